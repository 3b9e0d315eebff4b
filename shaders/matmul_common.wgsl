// Shared by shaders/matmul.wgsl and shaders/matmul_sg.wgsl (included, never compiled alone): the
// product's dimensions and overrides, the bindings, operand loads in the three FORMs (see the
// header of matmul.wgsl), the split-K slice, the epilogue store and the 4x4 operand blocks.

#include activation_fns

struct Dims {
  M: u32,
  N: u32,
  K: u32,
  KCHUNK: u32, // split-K slice length, a multiple of 4; equals K when SPLIT_K == 1
  // CONV only (the dense path leaves them 0): the convolution's geometry, see the conv section.
  cH: u32,
  cW: u32,
  cC: u32,
  cF: u32,
  cOH: u32,
  cOW: u32,
  cKH: u32,
  cKW: u32,
  cSH: u32,
  cSW: u32,
  cPT: u32,
  cPL: u32,
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
// EPILOGUE 1 with an identity activation whose A is Z itself (layers followed by batch norm, or
// a linear output): store Z only, out_a is then a placeholder binding.
override WRITE_A: bool = true;
override CONV: bool = false; // implicit-GEMM convolution: virtual operands (conv section below)

// Storage types of the tensors (src/gpu/shader-types.ts turns an alias into f16 where the
// wrapper binds a half-precision tensor). Every load converts to f32 and every product
// accumulates in f32; a store rounds once to its tensor's type. Bias stays f32.
alias lhs_t = f32;
alias rhs_t = f32;
alias aux_t = f32;
alias out_t = f32;
alias outa_t = f32;

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> lhs: array<lhs_t>;        // matmul_splitk_reduce: partials
@group(0) @binding(2) var<storage, read> rhs: array<rhs_t>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;         // EPILOGUE 1: [N]
@group(0) @binding(4) var<storage, read> aux: array<aux_t>;        // EPILOGUE 2: [M,N] pre-activation
@group(0) @binding(5) var<storage, read_write> out_c: array<out_t>; // C, Z, or split-K partials
@group(0) @binding(6) var<storage, read_write> out_a: array<outa_t>; // EPILOGUE 1: A = act(Z)
@group(0) @binding(7) var<storage, read> lhs4: array<vec4<lhs_t>>;  // lhs again, as vec4 (VEC_L)
@group(0) @binding(8) var<storage, read> rhs4: array<vec4<rhs_t>>;  // rhs again, as vec4 (VEC_R)

// op(L)[m, k]
fn load_l(m: u32, k: u32) -> f32 {
  if (CONV && FORM != 1u) {
    return conv_l(m, k);
  }
  if (FORM == 1u) {
    return f32(lhs[k * dims.M + m]);
  }
  return f32(lhs[m * dims.K + k]);
}

// op(R)[k, n]
fn load_r(k: u32, n: u32) -> f32 {
  if (CONV && FORM != 0u) {
    return conv_r(k, n);
  }
  if (FORM == 0u) {
    return f32(rhs[n * dims.K + k]);
  }
  return f32(rhs[k * dims.N + n]);
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
    out_c[slice * dims.M * dims.N + idx] = out_t(c);
  } else if (EPILOGUE == 1u) {
    let z = c + bias[n];
    out_c[idx] = out_t(z);
    if (WRITE_A) {
      out_a[idx] = outa_t(act_forward(z));
    }
  } else if (EPILOGUE == 2u) {
    out_c[idx] = out_t(c * act_grad(f32(aux[idx])));
  } else {
    out_c[idx] = out_t(c);
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
  if (CONV && VEC_L && FORM != 1u) {
    let last = dims.M - 1u;
    return mat4x4<f32>(conv_l4(min(m0, last), k), conv_l4(min(m0 + 1u, last), k), conv_l4(min(m0 + 2u, last), k), conv_l4(min(m0 + 3u, last), k));
  }
  if (VEC_L) {
    if (FORM == 1u) {
      let s = dims.M / 4u;
      let b = k * s + m0 / 4u;
      return transpose(mat4x4<f32>(vec4<f32>(lhs4[b]), vec4<f32>(lhs4[b + s]), vec4<f32>(lhs4[b + 2u * s]), vec4<f32>(lhs4[b + 3u * s])));
    }
    let last = dims.M - 1u;
    let s = dims.K / 4u;
    let kb = k / 4u;
    return mat4x4<f32>(
      vec4<f32>(lhs4[min(m0, last) * s + kb]),
      vec4<f32>(lhs4[min(m0 + 1u, last) * s + kb]),
      vec4<f32>(lhs4[min(m0 + 2u, last) * s + kb]),
      vec4<f32>(lhs4[min(m0 + 3u, last) * s + kb]),
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
  if (CONV && VEC_R && FORM != 0u) {
    return mat4x4<f32>(conv_r4(k, n0), conv_r4(k + 1u, n0), conv_r4(k + 2u, n0), conv_r4(k + 3u, n0));
  }
  if (VEC_R) {
    if (FORM == 0u) {
      let last = dims.N - 1u;
      let s = dims.K / 4u;
      let kb = k / 4u;
      return transpose(mat4x4<f32>(
        vec4<f32>(rhs4[min(n0, last) * s + kb]),
        vec4<f32>(rhs4[min(n0 + 1u, last) * s + kb]),
        vec4<f32>(rhs4[min(n0 + 2u, last) * s + kb]),
        vec4<f32>(rhs4[min(n0 + 3u, last) * s + kb]),
      ));
    }
    let s = dims.N / 4u;
    let b = k * s + n0 / 4u;
    return mat4x4<f32>(vec4<f32>(rhs4[b]), vec4<f32>(rhs4[b + s]), vec4<f32>(rhs4[b + 2u * s]), vec4<f32>(rhs4[b + 3u * s]));
  }
  let last = dims.N - 1u;
  let n = vec4<u32>(n0, min(n0 + 1u, last), min(n0 + 2u, last), min(n0 + 3u, last));
  var r: mat4x4<f32>;
  for (var t = 0u; t < 4u; t++) {
    r[t] = vec4<f32>(load_r(k + t, n[0]), load_r(k + t, n[1]), load_r(k + t, n[2]), load_r(k + t, n[3]));
  }
  return r;
}


// ---- Implicit-GEMM convolution (CONV = true; src/kernels/conv.ts) ----
// The same products with one or both operands virtual, read straight from the conv's tensors:
// x [B,H,W,C], w [F,KH,KW,C], dZ [B,OH,OW,F]. Output pixel (oh, ow) reads input pixel
// (oh*SH - PT + kh, ow*SW - PL + kw); a pixel outside the map reads as 0.
//   FORM 0 forward      L = col(x) [M = B*OH*OW, K = KH*KW*C], k = (kh*KW + kw)*C + c; R = w
//   FORM 1 weight grad  L = dZ as [K = B*OH*OW, M = F] (real); R = col(x) [K, N = KH*KW*C]
//   FORM 2 input grad   the transposed conv: L[m, k] = dZ[b, oh, ow, f] for m = (b, ih, iw),
//                       k = (kh*KW + kw)*F + f, oh = (ih + PT - kh) / SH when that is an integer
//                       in [0, OH) (else 0), likewise ow; R[k, n = c] = w[f, kh, kw, c]
// Indices reaching here are clamped to the product's edge, so every read is in bounds. With
// VEC_L / VEC_R the wrapper guarantees that 4 consecutive k (or n) stay inside one contiguous
// run of C (or F) values, so a vec4 is one aligned load of lhs4 / rhs4.

// col(x)[p, q] for output pixel p and q = (kh, kw, c): (x index, or 0xffffffff outside the map).
fn conv_col_index(p: u32, q: u32) -> u32 {
  let c = q % dims.cC;
  let t = q / dims.cC;
  let kw = t % dims.cKW;
  let kh = t / dims.cKW;
  let ow = p % dims.cOW;
  let t2 = p / dims.cOW;
  let oh = t2 % dims.cOH;
  let b = t2 / dims.cOH;
  // Unsigned wrap-around makes a row above / left of the map compare as >= H / W.
  let ih = oh * dims.cSH + kh - dims.cPT;
  let iw = ow * dims.cSW + kw - dims.cPL;
  if (ih >= dims.cH || iw >= dims.cW) {
    return 0xffffffffu;
  }
  return ((b * dims.cH + ih) * dims.cW + iw) * dims.cC + c;
}

// FORM 2: the dZ index for input pixel m and k = (kh, kw, f), or 0xffffffff where no output
// pixel reads (ih, iw) through (kh, kw).
fn conv_dz_index(m: u32, k: u32) -> u32 {
  let f = k % dims.cF;
  let t = k / dims.cF;
  let kw = t % dims.cKW;
  let kh = t / dims.cKW;
  let iw = m % dims.cW;
  let t2 = m / dims.cW;
  let ih = t2 % dims.cH;
  let b = t2 / dims.cH;
  let hs = ih + dims.cPT - kh; // wraps when negative, failing the bound below
  let ws = iw + dims.cPL - kw;
  let oh = hs / dims.cSH;
  let ow = ws / dims.cSW;
  if (oh >= dims.cOH || ow >= dims.cOW || hs % dims.cSH != 0u || ws % dims.cSW != 0u) {
    return 0xffffffffu;
  }
  return ((b * dims.cOH + oh) * dims.cOW + ow) * dims.cF + f;
}

// FORM 2: w[f, kh, kw, c] for k = (kh, kw, f) and n = c.
fn conv_w_index(k: u32, n: u32) -> u32 {
  let f = k % dims.cF;
  let khw = k / dims.cF;
  return (f * dims.cKH * dims.cKW + khw) * dims.cC + n;
}

fn conv_l(m: u32, k: u32) -> f32 {
  let i = select(conv_col_index(m, k), conv_dz_index(m, k), FORM == 2u);
  if (i == 0xffffffffu) {
    return 0.0;
  }
  return f32(lhs[i]);
}

fn conv_r(k: u32, n: u32) -> f32 {
  if (FORM == 2u) {
    return f32(rhs[conv_w_index(k, n)]);
  }
  let i = conv_col_index(k, n);
  if (i == 0xffffffffu) {
    return 0.0;
  }
  return f32(rhs[i]);
}

// op(L)[m, k..k+3] for k a multiple of 4 (VEC_L: C, or F in FORM 2, a multiple of 4).
fn conv_l4(m: u32, k: u32) -> vec4<f32> {
  let i = select(conv_col_index(m, k), conv_dz_index(m, k), FORM == 2u);
  if (i == 0xffffffffu) {
    return vec4<f32>(0.0);
  }
  return vec4<f32>(lhs4[i / 4u]);
}

// op(R)[k, n..n+3] for n a multiple of 4 (VEC_R: C a multiple of 4).
fn conv_r4(k: u32, n: u32) -> vec4<f32> {
  if (FORM == 2u) {
    return vec4<f32>(rhs4[conv_w_index(k, n) / 4u]);
  }
  let i = conv_col_index(k, n);
  if (i == 0xffffffffu) {
    return vec4<f32>(0.0);
  }
  return vec4<f32>(rhs4[i / 4u]);
}
