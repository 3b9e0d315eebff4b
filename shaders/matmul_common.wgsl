// Shared by shaders/matmul.wgsl and shaders/matmul_sg.wgsl (included, never compiled alone): the
// product's dimensions and overrides, the bindings, operand loads in the three FORMs (see the
// header of matmul.wgsl), the split-K slice, the epilogue store and the 4x4 operand blocks.

#include activation_fns

struct Dims {
  M: u32,
  N: u32,
  K: u32,
  KCHUNK: u32, // split-K slice length, a multiple of 4; equals K when SPLIT_K == 1
}

override FORM: u32 = 0u;
override EPILOGUE: u32 = 0u;
override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;
override TM: u32 = 4u; // matmul_row: uniform rows per invocation, 4 or 8
override VEC_L: bool = false; // read op(L) through lhs4 (its contiguous dimension is a multiple of 4)
override VEC_R: bool = false;
override LANE_M: bool = false;
override SPLIT_K: u32 = 1u;

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> lhs: array<f32>;        // matmul_splitk_reduce: partials
@group(0) @binding(2) var<storage, read> rhs: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;       // EPILOGUE 1: [N]
@group(0) @binding(4) var<storage, read> aux: array<f32>;        // EPILOGUE 2: [M,N] pre-activation
@group(0) @binding(5) var<storage, read_write> out_c: array<f32>; // C, Z, or split-K partials
@group(0) @binding(6) var<storage, read_write> out_a: array<f32>; // EPILOGUE 1: A = act(Z)
@group(0) @binding(7) var<storage, read> lhs4: array<vec4<f32>>;  // lhs again, as vec4 (VEC_L)
@group(0) @binding(8) var<storage, read> rhs4: array<vec4<f32>>;  // rhs again, as vec4 (VEC_R)

// op(L)[m, k]
fn load_l(m: u32, k: u32) -> f32 {
  if (FORM == 1u) {
    return lhs[k * dims.M + m];
  }
  return lhs[m * dims.K + k];
}

// op(R)[k, n]
fn load_r(k: u32, n: u32) -> f32 {
  if (FORM == 0u) {
    return rhs[n * dims.K + k];
  }
  return rhs[k * dims.N + n];
}

// op(L)[m, k..k+3] and op(R)[k..k+3, n]
fn load_l4(m: u32, k: u32) -> vec4<f32> {
  return vec4<f32>(load_l(m, k), load_l(m, k + 1u), load_l(m, k + 2u), load_l(m, k + 3u));
}

fn load_r4(k: u32, n: u32) -> vec4<f32> {
  return vec4<f32>(load_r(k, n), load_r(k + 1u, n), load_r(k + 2u, n), load_r(k + 3u, n));
}

// The slice of K that workgroup z sums (all of K without split-K).
fn k_range(z: u32) -> vec2<u32> {
  let k0 = min(z * dims.KCHUNK, dims.K);
  return vec2<u32>(k0, min(k0 + dims.KCHUNK, dims.K));
}

fn store_one(m: u32, n: u32, slice: u32, c: f32) {
  let idx = m * dims.N + n;
  if (SPLIT_K > 1u) {
    out_c[slice * dims.M * dims.N + idx] = c;
  } else if (EPILOGUE == 1u) {
    let z = c + bias[n];
    out_c[idx] = z;
    out_a[idx] = act_forward(z);
  } else if (EPILOGUE == 2u) {
    out_c[idx] = c * act_grad(aux[idx]);
  } else {
    out_c[idx] = c;
  }
}

// Stores the 4x4 block acc[4q .. 4q+3] at (m0, n0), skipping rows and columns past the edge.
fn store_blocks(acc: array<vec4<f32>, 8>, q: u32, m0: u32, n0: u32, slice: u32) {
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + i;
    if (m >= dims.M) {
      break;
    }
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + j;
      if (n >= dims.N) {
        break;
      }
      store_one(m, n, slice, acc[q * 4u + i][j]);
    }
  }
}

fn store_block(m0: u32, n0: u32, slice: u32, acc: array<vec4<f32>, 4>) {
  let z = vec4<f32>(0.0);
  store_blocks(array<vec4<f32>, 8>(acc[0], acc[1], acc[2], acc[3], z, z, z, z), 0u, m0, n0, slice);
}

// A 4x4x4 step of the register-tiled kernels. Blocks are mat4x4 used as 4 rows:
//   l_block(m0, k)[i] = op(L)[m0+i, k..k+3]     r_block(k, n0)[t] = op(R)[k+t, n0..n0+3]
// With VEC_L / VEC_R the rows are read as vec4 along whichever dimension is contiguous in memory
// (k for X, W in the forward form, m or n for the [K, *] operands) and transposed when that is
// not the row direction; under SoA codegen (lavapipe) the transpose is free register renaming.
// Without them every index is clamped and read as a scalar. Then C[m0+i, n0..n0+3] += R * L[i].
fn l_block(m0: u32, k: u32) -> mat4x4<f32> {
  if (VEC_L) {
    if (FORM == 1u) {
      let s = dims.M / 4u;
      let b = k * s + m0 / 4u;
      return transpose(mat4x4<f32>(lhs4[b], lhs4[b + s], lhs4[b + 2u * s], lhs4[b + 3u * s]));
    }
    let last = dims.M - 1u;
    let s = dims.K / 4u;
    let kb = k / 4u;
    return mat4x4<f32>(
      lhs4[min(m0, last) * s + kb],
      lhs4[min(m0 + 1u, last) * s + kb],
      lhs4[min(m0 + 2u, last) * s + kb],
      lhs4[min(m0 + 3u, last) * s + kb],
    );
  }
  let last = dims.M - 1u;
  return mat4x4<f32>(
    load_l4(min(m0, last), k),
    load_l4(min(m0 + 1u, last), k),
    load_l4(min(m0 + 2u, last), k),
    load_l4(min(m0 + 3u, last), k),
  );
}

fn r_block(k: u32, n0: u32) -> mat4x4<f32> {
  if (VEC_R) {
    if (FORM == 0u) {
      let last = dims.N - 1u;
      let s = dims.K / 4u;
      let kb = k / 4u;
      return transpose(mat4x4<f32>(
        rhs4[min(n0, last) * s + kb],
        rhs4[min(n0 + 1u, last) * s + kb],
        rhs4[min(n0 + 2u, last) * s + kb],
        rhs4[min(n0 + 3u, last) * s + kb],
      ));
    }
    let s = dims.N / 4u;
    let b = k * s + n0 / 4u;
    return mat4x4<f32>(rhs4[b], rhs4[b + s], rhs4[b + 2u * s], rhs4[b + 3u * s]);
  }
  let last = dims.N - 1u;
  let n = vec4<u32>(n0, min(n0 + 1u, last), min(n0 + 2u, last), min(n0 + 3u, last));
  var r: mat4x4<f32>;
  for (var t = 0u; t < 4u; t++) {
    r[t] = vec4<f32>(load_r(k + t, n[0]), load_r(k + t, n[1]), load_r(k + t, n[2]), load_r(k + t, n[3]));
  }
  return r;
}

