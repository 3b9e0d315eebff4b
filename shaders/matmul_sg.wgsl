enable subgroups;

// Subgroup-broadcast matmul: the same product, forms, epilogues and split-K as matmul.wgsl (read
// its header for the letters), for drivers whose subgroups are 8 lanes wide and run as SIMD
// lanes of one CPU thread (lavapipe on AVX2). Only compiled when the device has `subgroups`.
//
// Why: on lavapipe every storage-buffer load is a per-lane gather, and loads, not FMAs, bound
// the register-tiled kernels. Here a subgroup of 8 lanes owns an 8 x 32 block of C: lane l owns
// columns n0 + 4l .. n0 + 4l + 3 of all 8 rows. Per step of 4 k, each lane loads ONE vec4 of
// the 8 x 4 L tile (32 values between the 8 lanes) and its own 4 x 4 block of R, then gets
// every row of the L tile by subgroupBroadcast, which is a register shuffle. That is 5 vec4
// loads for 128 FMAs per lane, against 8 loads for 64 in matmul_reg.
//   FORM 0/2 (L is [M, K], k contiguous): lane l holds L[m0 + l, k .. k+3]; row i is lane i.
//   FORM 1   (L is [K, M], m contiguous): lane l holds L[k + l/2, m0 + 4(l%2) .. +3]; lane j
//            gives rows 4(j%2) .. 4(j%2)+3 at k + j/2.
// Workgroups are 8 x WG_Y invocations: WG_Y subgroups, each on its own 8 rows. Every lane runs
// the whole loop (subgroup operations need uniform control flow): lanes and rows past the edge
// read clamped, valid memory and only skip the store. The K tail runs one masked step.

#include matmul_common

// This lane's share of the 8 x 4 L tile at k; k + t >= kend reads as 0.
fn sg_l(m0: u32, lane: u32, k: u32, kend: u32) -> vec4<f32> {
  if (FORM == 1u) {
    let kk = k + lane / 2u;
    let mb = m0 + 4u * (lane % 2u);
    if (VEC_L && kk < kend) {
      return vec4<f32>(lhs4[(kk * dims.M + min(mb, dims.M - 4u)) / 4u]);
    }
    let kc = min(kk, dims.K - 1u);
    let ml = dims.M - 1u;
    let v = vec4<f32>(load_l(min(mb, ml), kc), load_l(min(mb + 1u, ml), kc), load_l(min(mb + 2u, ml), kc), load_l(min(mb + 3u, ml), kc));
    return select(vec4<f32>(0.0), v, kk < kend);
  }
  let m = min(m0 + lane, dims.M - 1u);
  if (CONV && VEC_L && k + 4u <= kend) {
    return conv_l4(m, k);
  }
  if (VEC_L && k + 4u <= kend) {
    return vec4<f32>(lhs4[(m * dims.K + k) / 4u]);
  }
  let kl = dims.K - 1u;
  let v = vec4<f32>(load_l(m, min(k, kl)), load_l(m, min(k + 1u, kl)), load_l(m, min(k + 2u, kl)), load_l(m, min(k + 3u, kl)));
  return select(vec4<f32>(0.0), v, k + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(kend));
}

// R[k + t, n0 .. n0+3] as row t; rows with k + t >= kend read as 0.
fn sg_r(k: u32, n0: u32, kend: u32) -> mat4x4<f32> {
  if (k + 4u <= kend) {
    return r_block(k, n0);
  }
  return r_scalar(k, n0, kend);
}

// sg_r without vec4 reads: any k, clamped scalar loads, rows at or past kend are 0.
fn r_scalar(k: u32, n0: u32, kend: u32) -> mat4x4<f32> {
  let kl = dims.K - 1u;
  let nl = dims.N - 1u;
  var r: mat4x4<f32>;
  for (var t = 0u; t < 4u; t++) {
    let kt = min(k + t, kl);
    let row = vec4<f32>(load_r(kt, min(n0, nl)), load_r(kt, min(n0 + 1u, nl)), load_r(kt, min(n0 + 2u, nl)), load_r(kt, min(n0 + 3u, nl)));
    r[t] = select(vec4<f32>(0.0), row, k + t < kend);
  }
  return r;
}

// acc[i] += L[m0+i, k..k+3] . R[k..k+3, lane's columns], with the L tile spread over the lanes.
// subgroupBroadcast wants a constant lane, hence the unrolled lines.
fn sg_step(acc: ptr<function, array<vec4<f32>, 8>>, a: vec4<f32>, b: mat4x4<f32>) {
  if (FORM == 1u) {
    sg_cols(acc, 0u, subgroupBroadcast(a, 0u), b[0]);
    sg_cols(acc, 4u, subgroupBroadcast(a, 1u), b[0]);
    sg_cols(acc, 0u, subgroupBroadcast(a, 2u), b[1]);
    sg_cols(acc, 4u, subgroupBroadcast(a, 3u), b[1]);
    sg_cols(acc, 0u, subgroupBroadcast(a, 4u), b[2]);
    sg_cols(acc, 4u, subgroupBroadcast(a, 5u), b[2]);
    sg_cols(acc, 0u, subgroupBroadcast(a, 6u), b[3]);
    sg_cols(acc, 4u, subgroupBroadcast(a, 7u), b[3]);
    return;
  }
  (*acc)[0] += b * subgroupBroadcast(a, 0u);
  (*acc)[1] += b * subgroupBroadcast(a, 1u);
  (*acc)[2] += b * subgroupBroadcast(a, 2u);
  (*acc)[3] += b * subgroupBroadcast(a, 3u);
  (*acc)[4] += b * subgroupBroadcast(a, 4u);
  (*acc)[5] += b * subgroupBroadcast(a, 5u);
  (*acc)[6] += b * subgroupBroadcast(a, 6u);
  (*acc)[7] += b * subgroupBroadcast(a, 7u);
}

// FORM 1: x holds rows r0 .. r0+3 at one k; add x[c] * (that R row) to each.
fn sg_cols(acc: ptr<function, array<vec4<f32>, 8>>, r0: u32, x: vec4<f32>, b: vec4<f32>) {
  (*acc)[r0] += x.x * b;
  (*acc)[r0 + 1u] += x.y * b;
  (*acc)[r0 + 2u] += x.z * b;
  (*acc)[r0 + 3u] += x.w * b;
}

// Rows per subgroup: 8, or 16 (two 8-row halves sharing each R block: 6 loads per 256 FMAs).
override SG_ROWS: u32 = 8u;

@compute @workgroup_size(8, WG_Y)
fn matmul_sg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let lane = lid.x;
  let m0 = (wid.y * WG_Y + lid.y) * SG_ROWS;
  let n0 = (wid.x * 8u + lane) * 4u;
  // Loads use a clamped column block (whole vec4s when R's rows are read as vec4 along n).
  let nb = select(min(n0, dims.N - 1u), min(n0, dims.N - 4u), VEC_R && FORM != 0u);
  let kr = k_range(wid.z);
  var acc: array<vec4<f32>, 8>;
  var acc2: array<vec4<f32>, 8>; // rows m0 + 8 .. m0 + 15 (SG_ROWS 16)
  if (CONV && FORM == 1u) {
    conv_weight_grad_loop(&acc, &acc2, m0, lane, nb, kr);
  } else if (CONV && FORM == 0u && !VEC_L) {
    conv_linear_loop(&acc, &acc2, m0, lane, nb, kr);
  } else if (CONV) {
    conv_pixel_loop(&acc, &acc2, m0, lane, nb, kr);
  } else {
    var k = kr.x;
    for (; k + 4u <= kr.y; k += 4u) {
      let r = r_block(k, nb);
      sg_step(&acc, sg_l(m0, lane, k, kr.y), r);
      if (SG_ROWS == 16u) {
        sg_step(&acc2, sg_l(m0 + 8u, lane, k, kr.y), r);
      }
    }
    if (k < kr.y) {
      let r = sg_r(k, nb, kr.y);
      sg_step(&acc, sg_l(m0, lane, k, kr.y), r);
      if (SG_ROWS == 16u) {
        sg_step(&acc2, sg_l(m0 + 8u, lane, k, kr.y), r);
      }
    }
  }
  store_blocks(acc, 0u, m0, n0, wid.z);
  store_blocks(acc, 1u, m0 + 4u, n0, wid.z);
  if (SG_ROWS == 16u) {
    store_blocks(acc2, 0u, m0 + 8u, n0, wid.z);
    store_blocks(acc2, 1u, m0 + 12u, n0, wid.z);
  }
}


// ---- Implicit-GEMM convolution (CONV), see the conv section of matmul_common.wgsl ----
// The generic loop above would call conv_l4 / conv_r4 per step, and each splits k (and n) into
// (kh, kw, c) and a pixel into (b, y, x) with integer divisions; lavapipe has no vector division,
// so every one becomes 8 scalar divides and they cost more than the FMAs. These loops walk the
// reduction in its natural nesting instead and divide only once per kernel pixel.

// FORM 0 (forward) and FORM 2 (input grad): lane l owns GEMM row m0 + l (and m0 + 8 + l with
// SG_ROWS 16), one pixel (b, y, x) each: an
// output pixel (forward, over OH x OW) or an input pixel (input grad, over H x W). k runs over
// kernel pixels p = (kh, kw) and, inside each, over its CR channels (C forward, F input grad), in
// steps of 4. A split-K slice [kr.x, kr.y) may start or end inside a kernel pixel.
fn conv_pixel_loop(acc: ptr<function, array<vec4<f32>, 8>>, acc2: ptr<function, array<vec4<f32>, 8>>, m0: u32, lane: u32, nb: u32, kr: vec2<u32>) {
  let CR = select(dims.cF, dims.cC, FORM == 0u);
  let KHW = dims.cKH * dims.cKW;
  let pix = conv_pixel(min(m0 + lane, dims.M - 1u));
  let pix2 = conv_pixel(min(m0 + 8u + lane, dims.M - 1u)); // SG_ROWS 16 only
  for (var p = kr.x / CR; p * CR < kr.y; p++) {
    let kh = p / dims.cKW;
    let kw = p - kh * dims.cKW;
    let src = conv_run(pix, kh, kw, CR);
    let src2 = conv_run(pix2, kh, kw, CR);
    let kb = p * CR;
    let cend = min(kr.y, kb + CR) - kb;
    for (var c = max(kr.x, kb) - kb; c < cend; c += 4u) {
      var r: mat4x4<f32>;
      if (FORM == 0u) {
        // R = w as [F, K]: plain rows of the product at k = kb + c.
        if (VEC_L && VEC_R) {
          r = r_block(kb + c, nb);
        } else {
          r = r_scalar(kb + c, nb, kb + cend);
        }
      } else {
        // R[(p, f), n] = w[f, p, n]: rows f = c .. c+3 at stride KH*KW*C.
        for (var u = 0u; u < 4u; u++) {
          let f = min(c + u, CR - 1u);
          let base = (f * KHW + p) * dims.cC;
          var row: vec4<f32>;
          if (VEC_R) {
            row = vec4<f32>(rhs4[(base + nb) / 4u]);
          } else {
            let nl = dims.N - 1u;
            row = vec4<f32>(f32(rhs[base + min(nb, nl)]), f32(rhs[base + min(nb + 1u, nl)]), f32(rhs[base + min(nb + 2u, nl)]), f32(rhs[base + min(nb + 3u, nl)]));
          }
          r[u] = select(vec4<f32>(0.0), row, c + u < cend);
        }
      }
      sg_step(acc, conv_run_l(src, c, cend, CR), r);
      if (SG_ROWS == 16u) {
        sg_step(acc2, conv_run_l(src2, c, cend, CR), r);
      }
    }
  }
}

// GEMM row m as a pixel (b, y, x): an output pixel (forward, over OH x OW) or an input pixel
// (input grad, over H x W).
fn conv_pixel(m: u32) -> vec3<u32> {
  let PW = select(dims.cW, dims.cOW, FORM == 0u);
  let PH = select(dims.cH, dims.cOH, FORM == 0u);
  let t = m / PW;
  return vec3<u32>(t / PH, t % PH, m % PW);
}

// Where pixel (b, y, x)'s CR-long run for kernel pixel (kh, kw) starts in x (forward) or dZ
// (input grad): (start, 1), or (0, 0) where that tap falls outside the map.
fn conv_run(px: vec3<u32>, kh: u32, kw: u32, CR: u32) -> vec2<u32> {
  var ok = false;
  var src = 0u;
  if (FORM == 0u) {
    // Unsigned wrap-around makes a row above / left of the map compare as >= H / W.
    let ih = px.y * dims.cSH + kh - dims.cPT;
    let iw = px.z * dims.cSW + kw - dims.cPL;
    ok = ih < dims.cH && iw < dims.cW;
    src = ((px.x * dims.cH + ih) * dims.cW + iw) * CR;
  } else {
    let hs = px.y + dims.cPT - kh; // wraps when negative, failing the bound below
    let ws = px.z + dims.cPL - kw;
    let oh = hs / dims.cSH;
    let ow = ws / dims.cSW;
    ok = oh < dims.cOH && ow < dims.cOW && hs % dims.cSH == 0u && ws % dims.cSW == 0u;
    src = ((px.x * dims.cOH + oh) * dims.cOW + ow) * CR;
  }
  return select(vec2<u32>(0u), vec2<u32>(src, 1u), ok);
}

// This lane's L values run[c .. c+3]; channels at or past cend, and taps outside the map, are 0.
fn conv_run_l(run: vec2<u32>, c: u32, cend: u32, CR: u32) -> vec4<f32> {
  let ok = run.y == 1u;
  if (VEC_L) {
    // CR % 4 == 0 and slices start on multiples of 4: c .. c+3 lie inside the run.
    return select(vec4<f32>(0.0), vec4<f32>(lhs4[(run.x + c) / 4u]), ok);
  }
  let cs = vec4<u32>(c) + vec4<u32>(0u, 1u, 2u, 3u);
  let e = run.x + min(cs, vec4<u32>(CR - 1u));
  let v = vec4<f32>(f32(lhs[e.x]), f32(lhs[e.y]), f32(lhs[e.z]), f32(lhs[e.w]));
  return select(vec4<f32>(0.0), v, (cs < vec4<u32>(cend)) & vec4<bool>(ok));
}

// FORM 0 with C not a multiple of 4 (a first layer's 1 or 3 channels): walking kernel pixel by
// kernel pixel would pad each one's C channels to a step of 4 (a 5x5 kernel over 1 channel: 25
// steps for 25 products). Here k runs straight through K in steps of 4, each lane reading its 4
// taps one by one, with (kh, kw, c) carried as counters (the same in every lane).
fn conv_linear_loop(acc: ptr<function, array<vec4<f32>, 8>>, acc2: ptr<function, array<vec4<f32>, 8>>, m0: u32, lane: u32, nb: u32, kr: vec2<u32>) {
  let pix = conv_pixel(min(m0 + lane, dims.M - 1u));
  let pix2 = conv_pixel(min(m0 + 8u + lane, dims.M - 1u)); // SG_ROWS 16 only
  var c = kr.x % dims.cC;
  let q = kr.x / dims.cC;
  var kw = q % dims.cKW;
  var kh = q / dims.cKW;
  for (var k = kr.x; k < kr.y; k += 4u) {
    var a = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    for (var u = 0u; u < 4u; u++) {
      let live = k + u < kr.y;
      a[u] = conv_tap(pix, kh, kw, c, live);
      if (SG_ROWS == 16u) {
        a2[u] = conv_tap(pix2, kh, kw, c, live);
      }
      c += 1u;
      if (c == dims.cC) {
        c = 0u;
        kw += 1u;
        if (kw == dims.cKW) {
          kw = 0u;
          kh += 1u;
        }
      }
    }
    // Slices start on multiples of 4, so k is one: R's rows read as in the plain matmul.
    let r = sg_r(k, nb, kr.y);
    sg_step(acc, a, r);
    if (SG_ROWS == 16u) {
      sg_step(acc2, a2, r);
    }
  }
}

// x at output pixel px's tap (kh, kw), channel c; 0 outside the map or when not live.
fn conv_tap(px: vec3<u32>, kh: u32, kw: u32, c: u32, live: bool) -> f32 {
  // Unsigned wrap-around makes a row above / left of the map compare as >= H / W.
  let ih = px.y * dims.cSH + kh - dims.cPT;
  let iw = px.z * dims.cSW + kw - dims.cPL;
  let ok = live && ih < dims.cH && iw < dims.cW;
  return select(0.0, f32(lhs[select(0u, ((px.x * dims.cH + ih) * dims.cW + iw) * dims.cC + c, ok)]), ok);
}

// FORM 1 (weight grad): L = dZ as [K = B*OH*OW, M = F] (plain loads through sg_l); R = col(x)
// [K, N = KH*KW*C]. This lane's 4 columns n = (kh, kw, c) are fixed, so they are split once;
// the step's 4 output pixels k .. k+3 are carried as (b, oh, ow) counters, the same in every lane.
fn conv_weight_grad_loop(acc: ptr<function, array<vec4<f32>, 8>>, acc2: ptr<function, array<vec4<f32>, 8>>, m0: u32, lane: u32, nb: u32, kr: vec2<u32>) {
  let n = min(vec4<u32>(nb) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(dims.N - 1u));
  let ch = n % dims.cC;
  let q = n / dims.cC;
  let kw = q % dims.cKW;
  let kh = q / dims.cKW;
  var ow = kr.x % dims.cOW;
  var oh = (kr.x / dims.cOW) % dims.cOH;
  var b = kr.x / (dims.cOW * dims.cOH);
  for (var k = kr.x; k < kr.y; k += 4u) {
    var r: mat4x4<f32>;
    for (var u = 0u; u < 4u; u++) {
      // Unsigned wrap-around makes a row above / left of the map compare as >= H / W.
      let ih = vec4<u32>(oh * dims.cSH) + kh - vec4<u32>(dims.cPT);
      let iw = vec4<u32>(ow * dims.cSW) + kw - vec4<u32>(dims.cPL);
      let live = k + u < kr.y;
      let ok = (ih < vec4<u32>(dims.cH)) & (iw < vec4<u32>(dims.cW)) & vec4<bool>(live);
      let pix = (vec4<u32>(b) * dims.cH + ih) * dims.cW + iw;
      if (VEC_R) {
        // C % 4 == 0: the 4 columns share (kh, kw) and are 4 consecutive channels.
        r[u] = select(vec4<f32>(0.0), vec4<f32>(rhs4[select(0u, (pix.x * dims.cC + ch.x) / 4u, ok.x)]), ok.x);
      } else {
        let i = select(vec4<u32>(0u), pix * dims.cC + ch, ok);
        r[u] = select(vec4<f32>(0.0), vec4<f32>(f32(rhs[i.x]), f32(rhs[i.y]), f32(rhs[i.z]), f32(rhs[i.w])), ok);
      }
      // Next output pixel.
      ow += 1u;
      if (ow == dims.cOW) {
        ow = 0u;
        oh += 1u;
        if (oh == dims.cOH) {
          oh = 0u;
          b += 1u;
        }
      }
    }
    sg_step(acc, sg_l(m0, lane, k, kr.y), r);
    if (SG_ROWS == 16u) {
      sg_step(acc2, sg_l(m0 + 8u, lane, k, kr.y), r);
    }
  }
}
