// FMA-only throughput: the arithmetic ceiling of this adapter with no memory traffic at all.
//
// Each invocation keeps ACC independent accumulators and updates every one of them once per
// iteration: acc[i] = acc[i] * a + b (a = 0.999, b = 0.001 from a uniform, so the values stay
// near 1 and nothing is constant-folded). Independent accumulators are what hide FMA latency:
// a CPU driver runs a subgroup of invocations as SIMD lanes of one thread, so one scalar
// accumulator is one vector register, and a core with P FMA pipes of latency T needs P * T of
// them in flight. The vec4 form keeps ACC vec4s (4 * ACC registers). The accumulators are summed
// and written once per invocation so no update is dead.
// USE_FMA picks fma() or a * b + c. CHAIN updates each accumulator CHAIN times per iteration
// (a dependent chain, as a k loop unrolled by CHAIN does): a CPU driver blends every value
// carried around a loop with the execution mask once per iteration, so CHAIN > 1 shows the FMA
// rate without most of that cost.
//   FLOPs per dispatch = invocations * iters * ACC * CHAIN * (1 or 4) * 2.
// The loops over ACC have a constant trip count once the override is set, so the driver's
// compiler unrolls them and the array lives in registers (an indexed array would spill to
// memory, which the ACC sweep would show as a collapse).

struct Params {
  iters: u32,
  a: f32,
  b: f32,
  pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

override ACC: u32 = 8u;
override USE_FMA: bool = true;
override CHAIN: u32 = 1u;

fn mad1(x: f32, a: f32, b: f32) -> f32 {
  if (USE_FMA) {
    return fma(x, a, b);
  }
  return x * a + b;
}

fn mad4(x: vec4<f32>, a: f32, b: f32) -> vec4<f32> {
  if (USE_FMA) {
    return fma(x, vec4<f32>(a), vec4<f32>(b));
  }
  return x * a + b;
}

@compute @workgroup_size(64)
fn fma_scalar(@builtin(global_invocation_id) gid: vec3<u32>) {
  var acc: array<f32, 32>;
  for (var i = 0u; i < ACC; i++) {
    acc[i] = f32(gid.x % 7u + i) * 0.01;
  }
  let a = params.a;
  let b = params.b;
  for (var t = 0u; t < params.iters; t++) {
    for (var c = 0u; c < CHAIN; c++) {
      for (var i = 0u; i < ACC; i++) {
        acc[i] = mad1(acc[i], a, b);
      }
    }
  }
  var s = 0.0;
  for (var i = 0u; i < ACC; i++) {
    s += acc[i];
  }
  out[gid.x] = s;
}

@compute @workgroup_size(64)
fn fma_vec4(@builtin(global_invocation_id) gid: vec3<u32>) {
  var acc: array<vec4<f32>, 32>;
  for (var i = 0u; i < ACC; i++) {
    acc[i] = vec4<f32>(f32(gid.x % 7u + i) * 0.01) + vec4<f32>(0.0, 0.1, 0.2, 0.3);
  }
  let a = params.a;
  let b = params.b;
  for (var t = 0u; t < params.iters; t++) {
    for (var c = 0u; c < CHAIN; c++) {
      for (var i = 0u; i < ACC; i++) {
        acc[i] = mad4(acc[i], a, b);
      }
    }
  }
  var s = vec4<f32>(0.0);
  for (var i = 0u; i < ACC; i++) {
    s += acc[i];
  }
  out[gid.x] = s.x + s.y + s.z + s.w;
}
