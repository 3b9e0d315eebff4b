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
// Split-K (SPLIT_K > 1): workgroup z = s sums only k in [s*KCHUNK, (s+1)*KCHUNK) and stores its
// raw partial C into out_c = scratch[s][M][N] (no epilogue); matmul_splitk_reduce (SLICES = the
// same count) then adds the partials in slice order (deterministic) and applies the epilogue.
// This gives every core work when the output is small and K long (X[209,12288] . W^T[12288,20]).
//
// Four variants of the main loop, picked per adapter by measurement (src/engine/tune.ts):
//  - matmul_reg: register tiling, no workgroup memory and no barriers. Each invocation owns a
//    4x4 block of C and walks K in steps of 4 (l_block/r_block below). 2-D workgroups WG_X x WG_Y.
//  - matmul_row: the same blocks, for CPU implementations (lavapipe runs a workgroup as one
//    thread whose SIMD lanes are the invocations). 1-D workgroups of WG_X; each invocation owns
//    TM (4 or 8) "uniform" indices x 4 adjacent "lane" indices. The uniform indices come from
//    workgroup_id only, so their loads are one address for all lanes (a driver may load once and
//    broadcast instead of gathering); the lane block is loaded once per k step and reused TM/4
//    times. LANE_M says which output dimension the lanes run along, n (false) or m (true); the
//    wrapper gives the lanes the longer one so a narrow output (N = 20) does not idle them.
//  - matmul_sg (shaders/matmul_sg.wgsl, needs `subgroups`): 8-lane subgroups share one load of
//    an 8-row L tile by broadcast; by far the fastest on lavapipe, where loads are gathers.
//  - matmul_wg: classic shared-memory tiling. A workgroup of WG_X x WG_Y invocations stages
//    (4*WG) x TK slabs of L and R in workgroup memory, then each invocation computes a 4x4 block.
//    Real GPUs want this: every global value is loaded once per workgroup instead of per thread.
// matmul_reg and matmul_row read vec4s (VEC_L / VEC_R, set by the wrapper when the operand's
// contiguous dimension is a multiple of 4) and fall back to clamped scalar loads otherwise.
// Rows/columns past the edge are clamped on load (valid memory, never stored) so the inner loops
// carry no bounds checks; the store is guarded. K tails (K not a multiple of 4) run a scalar loop.

// Dims, overrides, bindings, loads, the epilogue store and the 4x4 blocks:
#include matmul_common

// The K tail (k not in a whole step of 4): one scalar rank-1 update of a 4x4 block.
fn tail_step(acc: ptr<function, array<vec4<f32>, 8>>, q: u32, m0: u32, n0: u32, k: u32) {
  let ml = dims.M - 1u;
  let nl = dims.N - 1u;
  let b = vec4<f32>(load_r(k, n0), load_r(k, min(n0 + 1u, nl)), load_r(k, min(n0 + 2u, nl)), load_r(k, min(n0 + 3u, nl)));
  for (var i = 0u; i < 4u; i++) {
    (*acc)[q * 4u + i] += load_l(min(m0 + i, ml), k) * b;
  }
}

@compute @workgroup_size(WG_X, WG_Y)
fn matmul_reg(
  @builtin(global_invocation_id) gid: vec3<u32>,
  @builtin(workgroup_id) wid: vec3<u32>,
) {
  let n0 = gid.x * 4u;
  let m0 = gid.y * 4u;
  if (m0 >= dims.M || n0 >= dims.N) {
    return;
  }
  let kr = k_range(wid.z);
  var acc: array<vec4<f32>, 8>;
  var k = kr.x;
  for (; k + 4u <= kr.y; k += 4u) {
    let a = l_block(m0, k);
    let b = r_block(k, n0);
    for (var i = 0u; i < 4u; i++) {
      acc[i] += b * a[i];
    }
  }
  for (; k < kr.y; k++) {
    tail_step(&acc, 0u, m0, n0, k);
  }
  store_blocks(acc, 0u, m0, n0, wid.z);
}

// matmul_row: each invocation owns TM/4 uniform blocks x 1 lane block. The lane block is loaded
// once per k step and multiplied with every uniform block.
@compute @workgroup_size(WG_X, 1)
fn matmul_row(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let blocks = TM / 4u;
  let lane0 = (wid.x * WG_X + lid.x) * 4u;
  let uni0 = wid.y * TM;
  let mn = select(vec2<u32>(uni0, lane0), vec2<u32>(lane0, uni0), LANE_M);
  if (mn.x >= dims.M || mn.y >= dims.N) {
    return;
  }
  let kr = k_range(wid.z);
  var acc: array<vec4<f32>, 8>;
  var k = kr.x;
  for (; k + 4u <= kr.y; k += 4u) {
    if (LANE_M) {
      let a = l_block(mn.x, k);
      for (var q = 0u; q < blocks; q++) {
        let b = r_block(k, min(mn.y + q * 4u, dims.N - 1u));
        for (var i = 0u; i < 4u; i++) {
          acc[q * 4u + i] += b * a[i];
        }
      }
    } else {
      let b = r_block(k, mn.y);
      for (var q = 0u; q < blocks; q++) {
        let a = l_block(min(mn.x + q * 4u, dims.M - 1u), k);
        for (var i = 0u; i < 4u; i++) {
          acc[q * 4u + i] += b * a[i];
        }
      }
    }
  }
  for (var q = 0u; q < blocks; q++) {
    let o = select(vec2<u32>(q * 4u, 0u), vec2<u32>(0u, q * 4u), LANE_M);
    for (var kk = k; kk < kr.y; kk++) {
      tail_step(&acc, q, mn.x + o.x, mn.y + o.y, kk);
    }
    store_blocks(acc, q, mn.x + o.x, mn.y + o.y, wid.z);
  }
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
  let kr = k_range(wid.z);
  var acc: array<vec4<f32>, 4>;
  for (var k0 = kr.x; k0 < kr.y; k0 += TK) {
    // Cooperative loads; k past the slice reads as 0 so the partial last slab adds nothing.
    for (var e = lindex; e < tm * TK; e += threads) {
      let kk = e / tm;
      let mm = e % tm;
      let k = k0 + kk;
      tile_l[kk * tm + mm] = select(0.0, load_l(min(bm + mm, mlast), min(k, dims.K - 1u)), k < kr.y);
    }
    for (var e = lindex; e < tn * TK; e += threads) {
      let kk = e / tn;
      let nn = e % tn;
      let k = k0 + kk;
      tile_r[kk * tn + nn] = select(0.0, load_r(min(k, dims.K - 1u), min(bn + nn, nlast)), k < kr.y);
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
  store_block(bm + lid.y * 4u, bn + lid.x * 4u, wid.z, acc);
}

// Split-K second pass: lhs holds SPLIT_K partials [SPLIT_K][M][N]; one invocation per output
// element sums them in slice order and applies the epilogue. Dispatched with SPLIT_K = 1 so
// store_one takes the epilogue path; SLICES carries the first pass's slice count.
override SLICES: u32 = 1u;

@compute @workgroup_size(64)
fn matmul_splitk_reduce(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.y * nwg.x * 64u + gid.x;
  let count = dims.M * dims.N;
  if (idx >= count) {
    return;
  }
  var c = 0.0;
  for (var s = 0u; s < SLICES; s++) {
    c += f32(lhs[s * count + idx]);
  }
  store_one(idx / dims.N, idx % dims.N, 0u, c);
}
