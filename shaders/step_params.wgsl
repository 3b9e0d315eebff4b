// Snippet (not a module of its own): the per-step uniform a plan writes once per training step
// (src/kernels/step-params.ts). `active_samples` = live samples in the batch (rows past it are
// padding of a last partial batch; `active` itself is a reserved word in WGSL), `step` = the
// optimizer step (0-based), `seed` = the dropout seed.

struct StepParams {
  active_samples: u32,
  step: u32,
  seed: u32,
  _pad: u32,
}
