// Loads mixed with FMAs: what throughput is left when every few FMAs need a value from memory,
// for each way a matmul tile could fetch its operands.
//
// Per iteration t, each invocation fetches L values v[0..L) by one pattern (below), then does
// ACC * REP vec4 FMAs, acc[i] = fma(v[(r * ACC + i) % L], s, acc[i]) for r < REP, i < ACC, so
// every loaded value feeds the arithmetic and the ratio is L loads per 4 * ACC * REP scalar
// FMAs. The matmul_sg ratio (5 vec4 loads per 128 FMAs) is L = 5, ACC = 8, REP = 4; matmul_reg's
// (8 per 64) is L = 8, ACC = 4, REP = 4. The accumulators are summed and written once.
//
// The source is 65,536 floats (256 KiB, in each core's L2) seen as 256 rows of 64 vec4 (or 256
// floats); iteration t, load j reads row (t * L + j) % 256, so the addresses move on every
// iteration as a k loop's do. A workgroup is 64 invocations (8 subgroups of 8 lanes on lavapipe),
// li its local index. Patterns:
//   vec4            src4[row * 64 + li]            adjacent lanes read adjacent vec4s (R rows in matmul_sg)
//   vec4_strided    src4[li * 256 + row]           each lane its own row, 4 KiB apart (L rows per lane)
//   scalar          src[row * 256 + li]            adjacent floats, splat to a vec4 for the FMAs
//   scalar_strided  src[li * 1024 + row']          each lane its own row, 4 KiB apart
//   uniform         src4[row * 64 + wid % 64]      one address for the whole workgroup
//   ubo_vec4        ubo4[(row % 64) * 64 + li]     as vec4, from a uniform buffer (the first 64 KiB)
//   ubo_uniform     ubo4[(row % 64) * 64 + wid % 64]   as uniform, from the uniform buffer
//   shared          tile[(row * 64 + li) % 1024]   workgroup memory filled once before a barrier
//   shared_same     tile[row % 1024]               workgroup memory, one address for all lanes
// (broadcast and the matmul_sg model live in ceiling_subgroup.wgsl.) Why the uniform buffer: in
// llvmpipe a per-lane storage load is a loop over the lanes with a bounds-check branch per
// component, a uniform-buffer gather is branch-free; measured, it is only ~15% cheaper.

struct MixParams {
  iters: u32,
  s: f32,
  pad0: u32,
  pad1: u32,
}

@group(0) @binding(0) var<uniform> mp: MixParams;
@group(0) @binding(1) var<storage, read_write> mix_out: array<vec4<f32>>;
// One buffer bound twice, as floats and as vec4s (read-only aliasing is allowed).
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read> src4: array<vec4<f32>>;
// The first 64 KiB of the same source as a uniform buffer (64 rows of 64 vec4).
@group(0) @binding(4) var<uniform> ubo4: array<vec4<f32>, 4096>;

override L: u32 = 5u;
override ACC: u32 = 8u;
override REP: u32 = 4u;

var<workgroup> tile: array<vec4<f32>, 1024>;

fn row_of(t: u32, j: u32) -> u32 {
  return (t * L + j) & 255u;
}

fn init_acc(acc: ptr<function, array<vec4<f32>, 16>>) {
  for (var i = 0u; i < ACC; i++) {
    (*acc)[i] = vec4<f32>(f32(i) * 0.01);
  }
}

fn mix(acc: ptr<function, array<vec4<f32>, 16>>, v: ptr<function, array<vec4<f32>, 8>>) {
  let s = vec4<f32>(mp.s);
  for (var r = 0u; r < REP; r++) {
    for (var i = 0u; i < ACC; i++) {
      (*acc)[i] = fma((*v)[(r * ACC + i) % L], s, (*acc)[i]);
    }
  }
}

fn finish(acc: ptr<function, array<vec4<f32>, 16>>, idx: u32) {
  var s = vec4<f32>(0.0);
  for (var i = 0u; i < ACC; i++) {
    s += (*acc)[i];
  }
  mix_out[idx] = s;
}

@compute @workgroup_size(64)
fn mix_vec4(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  var acc: array<vec4<f32>, 16>;
  var v: array<vec4<f32>, 8>;
  init_acc(&acc);
  for (var t = 0u; t < mp.iters; t++) {
    for (var j = 0u; j < L; j++) {
      v[j] = src4[row_of(t, j) * 64u + li];
    }
    mix(&acc, &v);
  }
  finish(&acc, wid.x * 64u + li);
}

@compute @workgroup_size(64)
fn mix_vec4_strided(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  var acc: array<vec4<f32>, 16>;
  var v: array<vec4<f32>, 8>;
  init_acc(&acc);
  for (var t = 0u; t < mp.iters; t++) {
    for (var j = 0u; j < L; j++) {
      v[j] = src4[li * 256u + row_of(t, j)];
    }
    mix(&acc, &v);
  }
  finish(&acc, wid.x * 64u + li);
}

@compute @workgroup_size(64)
fn mix_scalar(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  var acc: array<vec4<f32>, 16>;
  var v: array<vec4<f32>, 8>;
  init_acc(&acc);
  for (var t = 0u; t < mp.iters; t++) {
    for (var j = 0u; j < L; j++) {
      v[j] = vec4<f32>(src[row_of(t, j) * 256u + li]);
    }
    mix(&acc, &v);
  }
  finish(&acc, wid.x * 64u + li);
}

@compute @workgroup_size(64)
fn mix_scalar_strided(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  var acc: array<vec4<f32>, 16>;
  var v: array<vec4<f32>, 8>;
  init_acc(&acc);
  for (var t = 0u; t < mp.iters; t++) {
    for (var j = 0u; j < L; j++) {
      v[j] = vec4<f32>(src[li * 1024u + ((t * L + j) & 1023u)]);
    }
    mix(&acc, &v);
  }
  finish(&acc, wid.x * 64u + li);
}

@compute @workgroup_size(64)
fn mix_uniform(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  var acc: array<vec4<f32>, 16>;
  var v: array<vec4<f32>, 8>;
  init_acc(&acc);
  let col = wid.x & 63u;
  for (var t = 0u; t < mp.iters; t++) {
    for (var j = 0u; j < L; j++) {
      v[j] = src4[row_of(t, j) * 64u + col];
    }
    mix(&acc, &v);
  }
  finish(&acc, wid.x * 64u + li);
}

@compute @workgroup_size(64)
fn mix_ubo_vec4(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  var acc: array<vec4<f32>, 16>;
  var v: array<vec4<f32>, 8>;
  init_acc(&acc);
  for (var t = 0u; t < mp.iters; t++) {
    for (var j = 0u; j < L; j++) {
      v[j] = ubo4[(row_of(t, j) & 63u) * 64u + li];
    }
    mix(&acc, &v);
  }
  finish(&acc, wid.x * 64u + li);
}

@compute @workgroup_size(64)
fn mix_ubo_uniform(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  var acc: array<vec4<f32>, 16>;
  var v: array<vec4<f32>, 8>;
  init_acc(&acc);
  let col = wid.x & 63u;
  for (var t = 0u; t < mp.iters; t++) {
    for (var j = 0u; j < L; j++) {
      v[j] = ubo4[(row_of(t, j) & 63u) * 64u + col];
    }
    mix(&acc, &v);
  }
  finish(&acc, wid.x * 64u + li);
}

fn fill_tile(li: u32) {
  for (var q = 0u; q < 16u; q++) {
    tile[q * 64u + li] = src4[q * 64u + li];
  }
  workgroupBarrier();
}

@compute @workgroup_size(64)
fn mix_shared(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  fill_tile(li);
  var acc: array<vec4<f32>, 16>;
  var v: array<vec4<f32>, 8>;
  init_acc(&acc);
  for (var t = 0u; t < mp.iters; t++) {
    for (var j = 0u; j < L; j++) {
      v[j] = tile[(row_of(t, j) * 64u + li) & 1023u];
    }
    mix(&acc, &v);
  }
  finish(&acc, wid.x * 64u + li);
}

@compute @workgroup_size(64)
fn mix_shared_same(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  fill_tile(li);
  var acc: array<vec4<f32>, 16>;
  var v: array<vec4<f32>, 8>;
  init_acc(&acc);
  for (var t = 0u; t < mp.iters; t++) {
    for (var j = 0u; j < L; j++) {
      v[j] = tile[row_of(t, j)];
    }
    mix(&acc, &v);
  }
  finish(&acc, wid.x * 64u + li);
}
