enable subgroups;

// The subgroup half of the load-pattern benchmark, compiled only where the adapter has
// `subgroups`; bench/ceiling.ts puts this file in front of ceiling_mix.wgsl (bindings, MixParams,
// L / ACC / REP, mix() and the patterns' addressing are there).
//
//   broadcast   one vec4 load per lane per iteration (src4[(t % 256) * 64 + li]), then
//               v[j] = subgroupBroadcast(x, j) for j < L: 1 load and L broadcasts feed the
//               same ACC * REP vec4 FMAs as the other patterns.
//   sg_model    matmul_sg.wgsl's FORM 0 main loop without edges: per step of 4 k, each lane
//               loads one vec4 of the L tile (its own row, 4 KiB apart: src4[li * 256 + t % 256])
//               and a 4 x 4 block of R (4 vec4s, adjacent lanes adjacent), then for each of
//               SG_ROWS rows acc[i] += b * subgroupBroadcast(a, i), written exactly as there
//               (mat4x4 * vec4). 5 loads, SG_ROWS broadcasts and 4 * SG_ROWS vec4 FMAs per step.
//   sg_model_fma  the same with each row spelled as four explicit fma() calls; it also takes
//               SG_ROWS = 16 (rows 8..15 from a second L load, at row li + 64: 6 loads, 16
//               broadcasts and 64 vec4 FMAs per step, 16 vec4 accumulators).
// subgroupBroadcast wants a constant lane, hence the unrolled lines; the guards are on override
// constants, so control flow stays uniform and the untaken lines vanish at pipeline creation.

override SG_ROWS: u32 = 8u;

@compute @workgroup_size(64)
fn mix_broadcast(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  var acc: array<vec4<f32>, 16>;
  var v: array<vec4<f32>, 8>;
  init_acc(&acc);
  for (var t = 0u; t < mp.iters; t++) {
    let x = src4[(t & 255u) * 64u + li];
    v[0] = subgroupBroadcast(x, 0u);
    if (L > 1u) {
      v[1] = subgroupBroadcast(x, 1u);
    }
    if (L > 2u) {
      v[2] = subgroupBroadcast(x, 2u);
    }
    if (L > 3u) {
      v[3] = subgroupBroadcast(x, 3u);
    }
    if (L > 4u) {
      v[4] = subgroupBroadcast(x, 4u);
    }
    if (L > 5u) {
      v[5] = subgroupBroadcast(x, 5u);
    }
    if (L > 6u) {
      v[6] = subgroupBroadcast(x, 6u);
    }
    if (L > 7u) {
      v[7] = subgroupBroadcast(x, 7u);
    }
    mix(&acc, &v);
  }
  finish(&acc, wid.x * 64u + li);
}

fn sg_r(t: u32, li: u32) -> mat4x4<f32> {
  let k = (t * 4u) & 255u;
  return mat4x4<f32>(src4[k * 64u + li], src4[(k + 1u) * 64u + li], src4[(k + 2u) * 64u + li], src4[(k + 3u) * 64u + li]);
}

fn sg_finish(acc: ptr<function, array<vec4<f32>, 16>>, idx: u32) {
  var s = vec4<f32>(0.0);
  for (var i = 0u; i < SG_ROWS; i++) {
    s += (*acc)[i];
  }
  mix_out[idx] = s;
}

@compute @workgroup_size(64)
fn sg_model(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  var acc: array<vec4<f32>, 16>;
  for (var t = 0u; t < mp.iters; t++) {
    let a = src4[li * 256u + (t & 255u)];
    let b = sg_r(t, li);
    acc[0] += b * subgroupBroadcast(a, 0u);
    if (SG_ROWS > 1u) {
      acc[1] += b * subgroupBroadcast(a, 1u);
    }
    if (SG_ROWS > 2u) {
      acc[2] += b * subgroupBroadcast(a, 2u);
    }
    if (SG_ROWS > 3u) {
      acc[3] += b * subgroupBroadcast(a, 3u);
    }
    if (SG_ROWS > 4u) {
      acc[4] += b * subgroupBroadcast(a, 4u);
    }
    if (SG_ROWS > 5u) {
      acc[5] += b * subgroupBroadcast(a, 5u);
    }
    if (SG_ROWS > 6u) {
      acc[6] += b * subgroupBroadcast(a, 6u);
    }
    if (SG_ROWS > 7u) {
      acc[7] += b * subgroupBroadcast(a, 7u);
    }
  }
  sg_finish(&acc, wid.x * 64u + li);
}

fn fma_row(acc: vec4<f32>, b: mat4x4<f32>, x: vec4<f32>) -> vec4<f32> {
  return fma(b[3], vec4<f32>(x.w), fma(b[2], vec4<f32>(x.z), fma(b[1], vec4<f32>(x.y), fma(b[0], vec4<f32>(x.x), acc))));
}

@compute @workgroup_size(64)
fn sg_model_fma(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  var acc: array<vec4<f32>, 16>;
  for (var t = 0u; t < mp.iters; t++) {
    let a = src4[li * 256u + (t & 255u)];
    // Unused (and removed) unless SG_ROWS > 8.
    let a2 = src4[((li + 64u) * 256u + (t & 255u)) & 16383u];
    let b = sg_r(t, li);
    acc[0] = fma_row(acc[0], b, subgroupBroadcast(a, 0u));
    if (SG_ROWS > 1u) {
      acc[1] = fma_row(acc[1], b, subgroupBroadcast(a, 1u));
    }
    if (SG_ROWS > 2u) {
      acc[2] = fma_row(acc[2], b, subgroupBroadcast(a, 2u));
    }
    if (SG_ROWS > 3u) {
      acc[3] = fma_row(acc[3], b, subgroupBroadcast(a, 3u));
    }
    if (SG_ROWS > 4u) {
      acc[4] = fma_row(acc[4], b, subgroupBroadcast(a, 4u));
    }
    if (SG_ROWS > 5u) {
      acc[5] = fma_row(acc[5], b, subgroupBroadcast(a, 5u));
    }
    if (SG_ROWS > 6u) {
      acc[6] = fma_row(acc[6], b, subgroupBroadcast(a, 6u));
    }
    if (SG_ROWS > 7u) {
      acc[7] = fma_row(acc[7], b, subgroupBroadcast(a, 7u));
    }
    if (SG_ROWS > 8u) {
      acc[8] = fma_row(acc[8], b, subgroupBroadcast(a2, 0u));
    }
    if (SG_ROWS > 9u) {
      acc[9] = fma_row(acc[9], b, subgroupBroadcast(a2, 1u));
    }
    if (SG_ROWS > 10u) {
      acc[10] = fma_row(acc[10], b, subgroupBroadcast(a2, 2u));
    }
    if (SG_ROWS > 11u) {
      acc[11] = fma_row(acc[11], b, subgroupBroadcast(a2, 3u));
    }
    if (SG_ROWS > 12u) {
      acc[12] = fma_row(acc[12], b, subgroupBroadcast(a2, 4u));
    }
    if (SG_ROWS > 13u) {
      acc[13] = fma_row(acc[13], b, subgroupBroadcast(a2, 5u));
    }
    if (SG_ROWS > 14u) {
      acc[14] = fma_row(acc[14], b, subgroupBroadcast(a2, 6u));
    }
    if (SG_ROWS > 15u) {
      acc[15] = fma_row(acc[15], b, subgroupBroadcast(a2, 7u));
    }
  }
  sg_finish(&acc, wid.x * 64u + li);
}
