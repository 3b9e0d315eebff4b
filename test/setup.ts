// Silences the Vulkan loader's XDG_RUNTIME_DIR warning for every test process.
process.env.XDG_RUNTIME_DIR ??= '/tmp';
