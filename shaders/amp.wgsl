// Dynamic loss scaling for mixed precision (src/kernels/amp.ts), as PyTorch's GradScaler does it
// but without leaving the GPU. The loss gradient is multiplied by `scale` (losses.wgsl, SCALED),
// so the small gradients of the f16 activations stay above f16's subnormal range; the weight
// gradients (f32) then hold scale * g.
//   amp_unscale   grads *= 1 / scale (exact: scale is a power of two); any non-finite gradient
//                 sets the overflow flag. Runs before clipping and the optimizer, which therefore
//                 see true gradients; the optimizer skips the whole step when the flag is set.
//   amp_update    one invocation after the optimizer: on overflow, scale /= 2 (not below
//                 MIN_SCALE), the step counts as skipped and the growth streak restarts; after
//                 growth_interval finite steps in a row, scale *= 2 (not above MAX_SCALE).
//                 Clears the flag.
// State words (u32; scale as f32 bits): 0 scale, 1 finite steps since the last change of scale,
// 2 overflow flag of this step, 3 skipped steps in total, 4 steps seen in total.

struct Params {
  count: u32, // vec4 gradient elements (amp_unscale)
  row_stride: u32,
  growth_interval: u32,
  _pad: u32,
}

const MIN_SCALE: f32 = 1.0 / 16777216.0; // 2^-24
const MAX_SCALE: f32 = 16777216.0; // 2^24: scaled f32 gradients stay far from f32's range

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> state: array<atomic<u32>>;
@group(0) @binding(2) var<storage, read_write> grads: array<vec4<f32>>;

fn non_finite(g: vec4<f32>) -> bool {
  // Exponent bits all set: inf or NaN. A bit test, because float compilers may assume finite
  // values and fold x != x away.
  let e = bitcast<vec4<u32>>(g) & vec4<u32>(0x7f800000u);
  return any(e == vec4<u32>(0x7f800000u));
}

@compute @workgroup_size(256)
fn amp_unscale(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * params.row_stride;
  if (i >= params.count) {
    return;
  }
  let g = grads[i];
  if (non_finite(g)) {
    atomicOr(&state[2], 1u);
  }
  grads[i] = g * (1.0 / bitcast<f32>(atomicLoad(&state[0])));
}

@compute @workgroup_size(1)
fn amp_update() {
  var scale = bitcast<f32>(atomicLoad(&state[0]));
  var good = atomicLoad(&state[1]);
  if (atomicLoad(&state[2]) != 0u) {
    scale = max(scale * 0.5, MIN_SCALE);
    good = 0u;
    atomicAdd(&state[3], 1u);
  } else {
    good += 1u;
    if (good >= params.growth_interval) {
      scale = min(scale * 2.0, MAX_SCALE);
      good = 0u;
    }
  }
  atomicStore(&state[0], bitcast<u32>(scale));
  atomicStore(&state[1], good);
  atomicStore(&state[2], 0u);
  atomicAdd(&state[4], 1u);
}
