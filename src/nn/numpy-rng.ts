// numpy's legacy generator, `np.random.seed(s); np.random.randn(...)`, reproduced draw for draw so
// a model can start from the very weights a numpy recipe (the deeplearning.ai course) starts from.
//
//   seed    RandomState(s) with an integer s in [0, 2^32-1] is MT19937's init_genrand(s):
//           key[0] = s, key[i] = 1812433253 * (key[i-1] ^ (key[i-1] >>> 30)) + i  (mod 2^32).
//           (init_by_array is only used for array seeds, which this module does not take.)
//   double  53 bits from two outputs: ((a >>> 5) * 2^26 + (b >>> 6)) / 2^53, in [0, 1).
//   gauss   Marsaglia's polar method (numpy's legacy_gauss): x1, x2 = 2u-1, r2 = x1²+x2², retry
//           while r2 >= 1 or r2 == 0, f = √(-2 ln r2 / r2); return f*x2 and keep f*x1 for the
//           next call. randn(N, K) is N*K successive draws in row-major order.
//
// Everything is exact in float64 except Math.log, which V8 and glibc may round differently in
// the last bit on rare inputs; sqrt and the arithmetic are correctly rounded on both sides.

const N = 624;
const M = 397;

export class NumpyRandomState {
  private readonly mt = new Uint32Array(N);
  private pos = N;
  private gauss: number | null = null;

  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new RangeError(`numpy seeds are integers in [0, 2^32-1] (np.random.seed); got ${seed}`);
    }
    const mt = this.mt;
    mt[0] = seed;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
  }

  /** The next raw 32-bit output (genrand_int32). */
  nextUint32(): number {
    if (this.pos >= N) this.twist();
    let y = this.mt[this.pos++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** np.random.random_sample(): uniform in [0, 1) with 53 bits. */
  randomSample(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** np.random.randn() / standard_normal(): one standard normal draw. */
  normal(): number {
    if (this.gauss !== null) {
      const g = this.gauss;
      this.gauss = null;
      return g;
    }
    let x1: number;
    let x2: number;
    let r2: number;
    do {
      x1 = 2 * this.randomSample() - 1;
      x2 = 2 * this.randomSample() - 1;
      r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1 || r2 === 0);
    const f = Math.sqrt((-2 * Math.log(r2)) / r2);
    this.gauss = f * x1;
    return f * x2;
  }

  /** Regenerates all 624 words at once, as the reference implementation does. */
  private twist(): void {
    const mt = this.mt;
    for (let i = 0; i < N; i++) {
      const y = (mt[i] & 0x80000000) | (mt[(i + 1) % N] & 0x7fffffff);
      mt[i] = mt[(i + M) % N] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    this.pos = 0;
  }
}
