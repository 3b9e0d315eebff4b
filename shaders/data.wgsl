// GPU-resident datasets: the images stay on the device as packed uint8 (4 per u32) and each step
// only uploads the batch's sample indices. These kernels gather, normalise and convert a batch.
//   gather_images: X[r, d] = byte(idx[r] * D + d) * mul[d % C] + add[d % C]    (r < active)
//                  X[r, d] = 0                                                  (r >= active)
//                  one invocation per 4 features of a row (grid: x = D/4 groups, y = rows)
//   gather_rows:   X[r, d] = rows[idx[r] * D + d] (float data), same grid
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
override ALIGNED: bool = false; // features a multiple of 4: rows start on a word / a vec4

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> packed: array<u32>;
@group(0) @binding(2) var<storage, read> idx: array<u32>;
@group(0) @binding(3) var<storage, read> norm: array<f32>; // [mul_0..mul_C-1, add_0..add_C-1]
@group(0) @binding(4) var<storage, read_write> out_x: array<f32>;
@group(0) @binding(5) var<storage, read_write> out_y: array<u32>;

// 2-D grid: gid.y is the batch row, gid.x a group of 4 features, so there is no division per
// element. When D is a multiple of 4 (ALIGNED) a row starts on a word, and one u32 load gives
// the 4 bytes; the channel of feature d0 is found once and stepped, not taken modulo per byte.
@compute @workgroup_size(WG)
fn gather_images(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.y;
  let d0 = gid.x * 4u;
  if (r >= params.rows || d0 >= params.features) {
    return;
  }
  let base = r * params.features + d0;
  let n = min(4u, params.features - d0);
  if (r >= params.live_rows) {
    for (var j = 0u; j < n; j++) {
      out_x[base + j] = 0.0;
    }
    return;
  }
  let start = idx[r] * params.features + d0;
  var c = d0 % params.channels;
  var word = packed[start >> 2u];
  for (var j = 0u; j < n; j++) {
    let byte_index = start + j;
    if (!ALIGNED) {
      word = packed[byte_index >> 2u];
    }
    let value = f32((word >> (8u * (byte_index & 3u))) & 0xffu);
    out_x[base + j] = value * norm[c] + norm[params.channels + c];
    c = select(c + 1u, 0u, c + 1u == params.channels);
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
// float targets kept resident; D = params.features). Same grid as gather_images: 4 features of
// one row per invocation. gather_rows_vec4 is the same for D a multiple of 4, reading one vec4.
@group(0) @binding(6) var<storage, read> rows_f32: array<f32>;
@group(0) @binding(7) var<storage, read> rows_vec4: array<vec4<f32>>; // rows_f32's buffer as vec4

// The first of this invocation's output elements, or rows * features when it has none.
fn row_slot(gid: vec3<u32>) -> u32 {
  if (gid.y >= params.rows || gid.x * 4u >= params.features) {
    return params.rows * params.features;
  }
  return gid.y * params.features + gid.x * 4u;
}

@compute @workgroup_size(WG)
fn gather_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
  let base = row_slot(gid);
  let r = gid.y;
  let d0 = gid.x * 4u;
  if (base == params.rows * params.features) {
    return;
  }
  let live = r < params.live_rows;
  let start = select(0u, idx[min(r, params.live_rows - 1u)] * params.features + d0, live);
  for (var j = 0u; j < min(4u, params.features - d0); j++) {
    out_x[base + j] = select(0.0, rows_f32[start + j], live);
  }
}

@compute @workgroup_size(WG)
fn gather_rows_vec4(@builtin(global_invocation_id) gid: vec3<u32>) {
  let base = row_slot(gid);
  let r = gid.y;
  if (base == params.rows * params.features) {
    return;
  }
  let live = r < params.live_rows;
  let start = select(0u, idx[min(r, params.live_rows - 1u)] * params.features + gid.x * 4u, live);
  let v = select(vec4<f32>(0.0), rows_vec4[start / 4u], live);
  out_x[base] = v.x;
  out_x[base + 1u] = v.y;
  out_x[base + 2u] = v.z;
  out_x[base + 3u] = v.w;
}

// gather_images_augment: gather_images with training augmentation, the GPU twin of
// src/data/augment.ts (read its header for the maths; both sides use only integer arithmetic, so
// they agree byte for byte). One workgroup per batch row (gid.y); its lanes stride over the
// row's pixels. Per sample s = idx[r], draw k is counter_hash(seed, AUG_STREAM + k, epoch, s):
//   crop offset (dy, dx) in [0, 2p]; flip; brightness b; contrast cq / 256.
//   output pixel (y, x) reads source (y + dy - p, x' + dx - p), x' = W-1-x when flipped; outside
//   the image it reads 0 (zero mode) or the mirror pixel (reflect mode, numpy's 'reflect').
//   v' = clamp(m + ((cq * (v - m) + 128) >> 8) + b, 0, 255), m = round(sum of the cropped bytes / n)
//   X[r, d] = v' * mul[c] + add[c]
// Box modes (src/data/augment-rrc.ts has the maths): records of rec_height x rec_width may be
// larger than the output (height x width). BOX_RRC draws a box from rrc_table (draw 5) and its
// corner (draws 6, 7); BOX_CENTRE takes the centre output-sized box (evaluation). Either is
// resampled bilinearly in 8-bit fixed point, flipped on the output's columns.
// The sum is needed only for contrast: every lane adds its pixels' bytes into a workgroup atomic
// (u32 integers, so the order of the additions does not matter) before a barrier, then all lanes
// read it and write. Epoch lives in the aug uniform so each epoch is one 4-byte write.
struct AugParams {
  height: u32,
  width: u32,
  padding: u32,
  reflect: u32,
  flip: u32,
  brightness: u32, // b in [-brightness, brightness]
  contrast: u32, // cq in [256 - contrast, 256 + contrast]
  seed: u32,
  epoch: u32,
  rec_height: u32,
  rec_width: u32,
  box_mode: u32, // 0 pad-crop, 1 rrc, 2 centre
  rrc_count: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(8) var<uniform> aug: AugParams;
@group(0) @binding(9) var<storage, read> rrc_table: array<u32>; // (h << 16) | w per box

const BOX_RRC: u32 = 1u;
const BOX_CENTRE: u32 = 2u;

struct Box {
  y0: u32,
  x0: u32,
  h: u32,
  w: u32,
}

// Output index o along an axis of outN, from a box side at box0 of boxN: (first source index,
// next source index, 8-bit fraction), as `axis` in augment-rrc.ts.
fn box_axis(o: u32, outN: u32, box0: u32, boxN: u32) -> vec3<u32> {
  let num = max(0, i32((2u * o + 1u) * boxN) - i32(outN));
  let i = u32(num) / (2u * outN);
  let f = (256u * (u32(num) - i * 2u * outN)) / (2u * outN);
  return vec3<u32>(box0 + min(i, boxN - 1u), box0 + min(i + 1u, boxN - 1u), f);
}

// The resampled byte of channel c at output pixel pix (column already flipped by the caller).
fn box_value(src_base: u32, pix_y: u32, pix_x: u32, c: u32, b: Box) -> i32 {
  let C = params.channels;
  let ys = box_axis(pix_y, aug.height, b.y0, b.h);
  let xs = box_axis(pix_x, aug.width, b.x0, b.w);
  let W = aug.rec_width;
  let a00 = source_byte(src_base + (ys.x * W + xs.x) * C + c);
  let a01 = source_byte(src_base + (ys.x * W + xs.y) * C + c);
  let a10 = source_byte(src_base + (ys.y * W + xs.x) * C + c);
  let a11 = source_byte(src_base + (ys.y * W + xs.y) * C + c);
  let top = (256u - xs.z) * a00 + xs.z * a01;
  let bot = (256u - xs.z) * a10 + xs.z * a11;
  return i32(((256u - ys.z) * top + ys.z * bot + 32768u) >> 16u);
}

fn sample_box(sample: u32) -> Box {
  if (aug.box_mode == BOX_RRC) {
    let packed = rrc_table[aug_draw(5u, sample) % aug.rrc_count];
    let h = packed >> 16u;
    let w = packed & 0xffffu;
    return Box(aug_draw(6u, sample) % (aug.rec_height - h + 1u), aug_draw(7u, sample) % (aug.rec_width - w + 1u), h, w);
  }
  return Box((aug.rec_height - aug.height) / 2u, (aug.rec_width - aug.width) / 2u, aug.height, aug.width);
}

// Byte c of output pixel pix: through the box (modes 1, 2) or the pad-crop (mode 0).
fn out_value(src_base: u32, pix: u32, c: u32, oy: i32, ox: i32, flip: bool, b: Box) -> i32 {
  if (aug.box_mode != 0u) {
    let x = pix % aug.width;
    return box_value(src_base, pix / aug.width, select(x, aug.width - 1u - x, flip), c, b);
  }
  let s = source_pixel(pix, oy, ox, flip);
  if (s < 0) {
    return 0;
  }
  return i32(source_byte(src_base + u32(s) * params.channels + c));
}

const AUG_STREAM: u32 = 0xa0a00000u; // AUGMENT_STREAM in src/data/augment.ts

var<workgroup> wg_sum: atomic<u32>;

// mix32 and counterHash of src/rng.ts ("lowbias32" finaliser), on u32.
fn mix32(v: u32) -> u32 {
  var x = v;
  x = (x ^ (x >> 16u)) * 0x7feb352du;
  x = (x ^ (x >> 15u)) * 0x846ca68bu;
  return x ^ (x >> 16u);
}

fn aug_draw(k: u32, sample: u32) -> u32 {
  return mix32(mix32(mix32(mix32(aug.seed) ^ (AUG_STREAM + k)) ^ aug.epoch) ^ sample);
}

fn reflect_index(i: i32, n: i32) -> i32 {
  if (n == 1) {
    return 0;
  }
  let period = 2 * (n - 1);
  var m = i % period;
  if (m < 0) {
    m += period;
  }
  return select(m, period - m, m >= n);
}

// Source pixel (y * W + x) of output pixel `pix`, or -1 for a zero-filled border pixel.
fn source_pixel(pix: u32, oy: i32, ox: i32, flip: bool) -> i32 {
  let H = i32(aug.height);
  let W = i32(aug.width);
  let y = i32(pix / aug.width);
  let x = i32(pix % aug.width);
  var sy = y + oy;
  var sx = select(x, W - 1 - x, flip) + ox;
  if (aug.reflect != 0u) {
    sy = reflect_index(sy, H);
    sx = reflect_index(sx, W);
  } else if (sy < 0 || sy >= H || sx < 0 || sx >= W) {
    return -1;
  }
  return sy * W + sx;
}

fn source_byte(byte_index: u32) -> u32 {
  return (packed[byte_index >> 2u] >> (8u * (byte_index & 3u))) & 0xffu;
}

@compute @workgroup_size(WG)
fn gather_images_augment(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_index) lane: u32,
) {
  let r = wid.y;
  if (r >= params.rows) {
    return;
  }
  let D = params.features;
  let C = params.channels;
  let base = r * D;
  if (r >= params.live_rows) {
    for (var d = lane; d < D; d += WG) {
      out_x[base + d] = 0.0;
    }
    return;
  }
  let sample = idx[r];
  let p = aug.padding;
  var dy = p;
  var dx = p;
  if (p > 0u) {
    dy = aug_draw(0u, sample) % (2u * p + 1u);
    dx = aug_draw(1u, sample) % (2u * p + 1u);
  }
  let flip = aug.flip != 0u && (aug_draw(2u, sample) >> 31u) == 1u;
  var bright = 0;
  if (aug.brightness > 0u) {
    bright = i32(aug_draw(3u, sample) % (2u * aug.brightness + 1u)) - i32(aug.brightness);
  }
  var cq = 256;
  if (aug.contrast > 0u) {
    cq = 256 - i32(aug.contrast) + i32(aug_draw(4u, sample) % (2u * aug.contrast + 1u));
  }
  let oy = i32(dy) - i32(p);
  let ox = i32(dx) - i32(p);
  let src_base = sample * aug.rec_height * aug.rec_width * C;
  let pixels = aug.height * aug.width;
  var b = Box(0u, 0u, 1u, 1u);
  if (aug.box_mode != 0u) {
    b = sample_box(sample);
  }

  if (aug.contrast > 0u) {
    var local = 0u;
    for (var pix = lane; pix < pixels; pix += WG) {
      for (var c = 0u; c < C; c++) {
        local += u32(out_value(src_base, pix, c, oy, ox, flip, b));
      }
    }
    atomicAdd(&wg_sum, local);
  }
  // Workgroup memory starts at zero, so without contrast every lane reads 0 (and cq is 256,
  // where m cancels).
  workgroupBarrier();
  let m = i32((2u * atomicLoad(&wg_sum) + D) / (2u * D));

  for (var pix = lane; pix < pixels; pix += WG) {
    for (var c = 0u; c < C; c++) {
      let v = out_value(src_base, pix, c, oy, ox, flip, b);
      let t = clamp(m + ((cq * (v - m) + 128) >> 8u) + bright, 0, 255);
      out_x[base + pix * C + c] = f32(t) * norm[c] + norm[C + c];
    }
  }
}
