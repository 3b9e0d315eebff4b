// GPU-resident datasets: the images stay on the device as packed uint8 (4 per u32) and each step
// only uploads the batch's sample indices. These kernels gather, normalise and convert a batch.
//   gather_images: X[r, d] = byte(idx[r] * D + d) * mul[d % C] + add[d % C]    (r < active)
//                  X[r, d] = 0                                                  (r >= active)
//                  one invocation per 4 features of a row (grid: x = D/4 groups, y = rows)
//   gather_labels: per row r, from labels[idx[r]]:
//                  MODE 0: out[r] = label (u32, for softmax cross-entropy)
//                  MODE 1: out[r] = f32(label) (bit pattern, for a 1-output BCE head)
//                  MODE 2: out[r, j] = 1.0 if j == label else 0.0 (one-hot f32, for MSE/BCE)
// Normalisation (mul, add) is (1 / (255 std_c), -mean_c / std_c) for standardisation on [0,1]
// pixels, or (1/255, 0) for plain scaling; the CPU decides, the kernel does not care.

struct Params {
  rows: u32,
  live_rows: u32,
  features: u32,
  channels: u32,
  classes: u32,
  row_stride: u32,
  _pad0: u32,
  _pad1: u32,
}

override WG: u32 = 256u;
override MODE: u32 = 0u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> packed: array<u32>;
@group(0) @binding(2) var<storage, read> idx: array<u32>;
@group(0) @binding(3) var<storage, read> norm: array<f32>; // [mul_0..mul_C-1, add_0..add_C-1]
@group(0) @binding(4) var<storage, read_write> out_x: array<f32>;
@group(0) @binding(5) var<storage, read_write> out_y: array<u32>;

// 2-D grid: gid.y is the batch row, gid.x a group of 4 features (one u32 word when D is a
// multiple of 4), so there is no division per element and one load serves 4 outputs.
@compute @workgroup_size(WG)
fn gather_images(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.y;
  let d0 = gid.x * 4u;
  if (r >= params.rows || d0 >= params.features) {
    return;
  }
  let base = r * params.features;
  let live = r < params.live_rows;
  let start = select(0u, idx[min(r, params.live_rows - 1u)] * params.features, live);
  for (var j = 0u; j < 4u; j++) {
    let d = d0 + j;
    if (d >= params.features) {
      break;
    }
    if (!live) {
      out_x[base + d] = 0.0;
      continue;
    }
    let byte_index = start + d;
    let word = packed[byte_index >> 2u];
    let value = f32((word >> (8u * (byte_index & 3u))) & 0xffu);
    let c = d % params.channels;
    out_x[base + d] = value * norm[c] + norm[params.channels + c];
  }
}

@compute @workgroup_size(WG)
fn gather_labels(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.x;
  if (r >= params.rows) {
    return;
  }
  var label = 0u;
  let live = r < params.live_rows;
  if (live) {
    label = packed[idx[r]];
  }
  if (MODE == 0u) {
    out_y[r] = label;
  } else if (MODE == 1u) {
    out_y[r] = bitcast<u32>(select(0.0, f32(label), live));
  } else {
    for (var j = 0u; j < params.classes; j++) {
      out_y[r * params.classes + j] = bitcast<u32>(select(0.0, 1.0, live && j == label));
    }
  }
}

// gather_rows: out[r, d] = rows[idx[r] * D + d] for r < active, else 0 (float datasets and
// float targets kept resident; D = params.features). Same grid as gather_images.
@group(0) @binding(6) var<storage, read> rows_f32: array<f32>;

@compute @workgroup_size(WG)
fn gather_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x + gid.y * params.row_stride;
  if (e >= params.rows * params.features) {
    return;
  }
  let r = e / params.features;
  let d = e - r * params.features;
  if (r >= params.live_rows) {
    out_x[e] = 0.0;
    return;
  }
  out_x[e] = rows_f32[idx[r] * params.features + d];
}
