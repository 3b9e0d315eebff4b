// Asks Dawn (the `webgpu` npm package) for an adapter the way the engine does first, with the
// Vulkan loader's own choice of driver, and prints one JSON line:
//   {"adapter":"hardware"|"software"|"none","description":"...","fallback":bool}
// "software" covers Mesa lavapipe/llvmpipe, SwiftShader and adapters Dawn marks as fallback.
// scripts/setup-system.sh uses it to decide whether a software Vulkan driver is needed at all.
// Dawn's own start-up warnings go to stderr; only the JSON goes to stdout.
let report = { adapter: 'none', description: '', fallback: false };
try {
  const { create } = await import('webgpu');
  const adapter = await create([]).requestAdapter({ powerPreference: 'high-performance' });
  if (adapter) {
    const i = adapter.info;
    const text = [i.vendor, i.architecture, i.device, i.description].join(' ');
    const fallback = Boolean(i.isFallbackAdapter ?? adapter.isFallbackAdapter);
    const software = fallback || /llvmpipe|lavapipe|swiftshader|software/i.test(text);
    report = { adapter: software ? 'software' : 'hardware', description: text.trim(), fallback };
  }
} catch (e) {
  report.description = `no adapter: ${e instanceof Error ? e.message : String(e)}`;
}
process.stdout.write(`${JSON.stringify(report)}\n`);
// The Dawn addon can keep the event loop alive after the adapter is released.
process.exit(0);
