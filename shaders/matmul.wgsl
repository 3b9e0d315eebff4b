// Dense-layer matrix multiplies, C[M,N] = op(L)[M,K] . op(R)[K,N], in the three forms a dense
// layer needs (W is [out, in] = [N, K], PyTorch's nn.Linear layout):
//   FORM 0 (forward)        Z[B,N]  = X[B,K] . W^T          L = X  [M,K],  R = W  [N,K]
//   FORM 1 (weight grad)    dW[N,K] = dZ^T . X              L = dZ [K,M],  R = X  [K,N]
//   FORM 2 (input grad)     dX[B,K] = dZ . W                L = dZ [M,K],  R = W  [K,N]
// (M, N, K are the letters of this product, not the layer's: for FORM 1 the reduction K is B.)
//
// Epilogues (EPILOGUE override): 0 store C; 1 forward: Z = C + bias[n], A = act(Z), store both;
// 2 input grad fused with the previous layer's activation derivative: store C * act'(aux),
// where aux is that layer's pre-activation Z. All of them OVERWRITE their outputs.
//
// Two variants of the main loop, picked per adapter by measurement (src/kernels/matmul.ts):
//  - matmul_reg: register tiling, no workgroup memory and no barriers. Each invocation owns a
//    4x4 block of C and walks K in steps of 4. Barriers are costly on CPU implementations
//    (lavapipe runs each workgroup as one thread with SIMD lanes), so this wins there.
//  - matmul_wg: classic shared-memory tiling. A workgroup of WG_X x WG_Y invocations stages
//    TILE x TK slabs of L and R in workgroup memory, then each invocation computes a 4x4 block.
//    Real GPUs want this: every global value is loaded once per workgroup instead of per thread.
// Rows/columns past the edge are clamped on load (valid memory, never stored) so the inner loops
// carry no bounds checks; the store is guarded.

#include activation_fns

struct Dims {
  M: u32,
  N: u32,
  K: u32,
  _pad: u32,
}

override FORM: u32 = 0u;
override EPILOGUE: u32 = 0u;
override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> lhs: array<f32>;
@group(0) @binding(2) var<storage, read> rhs: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;       // EPILOGUE 1: [N]
@group(0) @binding(4) var<storage, read> aux: array<f32>;        // EPILOGUE 2: [M,N] pre-activation
@group(0) @binding(5) var<storage, read_write> out_c: array<f32>; // C, or Z for EPILOGUE 1
@group(0) @binding(6) var<storage, read_write> out_a: array<f32>; // EPILOGUE 1: A = act(Z)

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

fn store_block(m0: u32, n0: u32, acc: array<vec4<f32>, 4>) {
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + i;
    if (m >= dims.M) {
      break;
    }
    let row = acc[i];
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + j;
      if (n >= dims.N) {
        break;
      }
      let idx = m * dims.N + n;
      let c = row[j];
      if (EPILOGUE == 1u) {
        let z = c + bias[n];
        out_c[idx] = z;
        out_a[idx] = act_forward(z);
      } else if (EPILOGUE == 2u) {
        out_c[idx] = c * act_grad(aux[idx]);
      } else {
        out_c[idx] = c;
      }
    }
  }
}

@compute @workgroup_size(WG_X, WG_Y)
fn matmul_reg(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n0 = gid.x * 4u;
  let m0 = gid.y * 4u;
  if (m0 >= dims.M || n0 >= dims.N) {
    return;
  }
  let mlast = dims.M - 1u;
  let nlast = dims.N - 1u;
  let m = vec4<u32>(m0, min(m0 + 1u, mlast), min(m0 + 2u, mlast), min(m0 + 3u, mlast));
  let n = vec4<u32>(n0, min(n0 + 1u, nlast), min(n0 + 2u, nlast), min(n0 + 3u, nlast));
  var acc: array<vec4<f32>, 4>;
  let k4 = dims.K & ~3u;
  var k = 0u;
  for (; k < k4; k += 4u) {
    // a[i] = op(L)[m_i, k..k+3]; b[t] = op(R)[k+t, n_0..n_3]
    var a: array<vec4<f32>, 4>;
    for (var i = 0u; i < 4u; i++) {
      a[i] = vec4<f32>(load_l(m[i], k), load_l(m[i], k + 1u), load_l(m[i], k + 2u), load_l(m[i], k + 3u));
    }
    var b: array<vec4<f32>, 4>;
    for (var t = 0u; t < 4u; t++) {
      b[t] = vec4<f32>(load_r(k + t, n[0]), load_r(k + t, n[1]), load_r(k + t, n[2]), load_r(k + t, n[3]));
    }
    for (var i = 0u; i < 4u; i++) {
      acc[i] += a[i].x * b[0] + a[i].y * b[1] + a[i].z * b[2] + a[i].w * b[3];
    }
  }
  for (; k < dims.K; k++) {
    let b = vec4<f32>(load_r(k, n[0]), load_r(k, n[1]), load_r(k, n[2]), load_r(k, n[3]));
    for (var i = 0u; i < 4u; i++) {
      acc[i] += load_l(m[i], k) * b;
    }
  }
  store_block(m0, n0, acc);
}

// Shared-memory variant: output tile (4*WG_Y) x (4*WG_X), reduction slab TK.
const TK: u32 = 16u;
const MAX_TILE: u32 = 64u; // 4 * 16: largest WG_X/WG_Y the tiling supports
var<workgroup> tile_l: array<f32, MAX_TILE * TK>; // laid out [k][m]
var<workgroup> tile_r: array<f32, MAX_TILE * TK>; // [k][n]

@compute @workgroup_size(WG_X, WG_Y)
fn matmul_wg(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(local_invocation_index) lindex: u32,
) {
  let tm = 4u * WG_Y;
  let tn = 4u * WG_X;
  let threads = WG_X * WG_Y;
  let bm = wid.y * tm;
  let bn = wid.x * tn;
  let mlast = dims.M - 1u;
  let nlast = dims.N - 1u;
  var acc: array<vec4<f32>, 4>;
  for (var k0 = 0u; k0 < dims.K; k0 += TK) {
    // Cooperative loads; out-of-range k reads as 0 so the partial last slab adds nothing.
    for (var e = lindex; e < tm * TK; e += threads) {
      let kk = e / tm;
      let mm = e % tm;
      let k = k0 + kk;
      tile_l[kk * tm + mm] = select(0.0, load_l(min(bm + mm, mlast), k), k < dims.K);
    }
    for (var e = lindex; e < tn * TK; e += threads) {
      let kk = e / tn;
      let nn = e % tn;
      let k = k0 + kk;
      tile_r[kk * tn + nn] = select(0.0, load_r(k, min(bn + nn, nlast)), k < dims.K);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk++) {
      let lo = kk * tm + lid.y * 4u;
      let ro = kk * tn + lid.x * 4u;
      let a = vec4<f32>(tile_l[lo], tile_l[lo + 1u], tile_l[lo + 2u], tile_l[lo + 3u]);
      let b = vec4<f32>(tile_r[ro], tile_r[ro + 1u], tile_r[ro + 2u], tile_r[ro + 3u]);
      acc[0] += a.x * b;
      acc[1] += a.y * b;
      acc[2] += a.z * b;
      acc[3] += a.w * b;
    }
    workgroupBarrier();
  }
  store_block(bm + lid.y * 4u, bn + lid.x * 4u, acc);
}
