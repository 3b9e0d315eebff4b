// Inverted dropout over [B, size], forward and backward side by side, with no mask buffer: the
// mask is a pure function of (seed, stream, step, element) recomputed wherever it is needed.
//   keep(e)          = (counter_hash(seed, stream, step, e) >> 8) >= THRESHOLD,  e = row*size + j
//   dropout_forward:  out[e] = keep(e) ? x[e] * SCALE : 0               SCALE = f32(1 / (1 - rate))
//   dropout_backward: dX[e]  = (keep(e) ? dOut[e] * SCALE : 0) * act'(aux[e])
//   dropout_copy:     out[e] = x[e]                                      (evaluation)
// counter_hash is src/rng.ts's counterHash in the same u32 arithmetic (WGSL u32 multiplies wrap
// like Math.imul >>> 0), so the CPU reference draws the identical mask. THRESHOLD is
// dropoutThreshold(rate) = ceil(rate * 2^24): comparing integers keeps both sides exact.
// seed and step come from the plan's per-step uniform; one invocation per element on a 2-D grid
// of WG-wide workgroups. Every kernel OVERWRITES its output. act' is the PREVIOUS layer's
// (ACT/ALPHA overrides); with ACT = 0 aux is bound to a placeholder and never read.

#include activation_fns
#include step_params

struct Params {
  count: u32, // B * size
  stream: u32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<uniform> step_params: StepParams;
// Storage types: f16 where the wrapper binds half-precision tensors (src/gpu/shader-types.ts).
alias src_t = f32;
alias aux_t = f32;
alias dst_t = f32;

@group(0) @binding(2) var<storage, read> src: array<src_t>;       // x (forward), dOut (backward)
@group(0) @binding(3) var<storage, read> aux: array<aux_t>;       // backward: prev pre-activation
@group(0) @binding(4) var<storage, read_write> dst: array<dst_t>; // out (forward), dX (backward)

override WG: u32 = 256u;
override THRESHOLD: u32 = 0u;
override SCALE: f32 = 1.0;

fn mix32(v: u32) -> u32 {
  var x = v;
  x ^= x >> 16u;
  x *= 0x7feb352du;
  x ^= x >> 15u;
  x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}

fn counter_hash(seed: u32, stream: u32, step: u32, index: u32) -> u32 {
  return mix32(mix32(mix32(mix32(seed) ^ stream) ^ step) ^ index);
}

// x's multiplier at element e: 0 or SCALE.
fn mask(e: u32) -> f32 {
  let h = counter_hash(step_params.seed, params.stream, step_params.step, e);
  return select(0.0, SCALE, (h >> 8u) >= THRESHOLD);
}

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

@compute @workgroup_size(WG)
fn dropout_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat(gid, nwg);
  if (e < params.count) {
    dst[e] = dst_t(f32(src[e]) * mask(e));
  }
}

@compute @workgroup_size(WG)
fn dropout_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat(gid, nwg);
  if (e < params.count) {
    var d = f32(src[e]) * mask(e);
    if (ACT != 0u) {
      d *= act_grad(f32(aux[e]));
    }
    dst[e] = dst_t(d);
  }
}

@compute @workgroup_size(WG)
fn dropout_copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat(gid, nwg);
  if (e < params.count) {
    dst[e] = dst_t(f32(src[e]));
  }
}
