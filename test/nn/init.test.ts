import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { INITS, initModelWeights, initWeights, type Init } from '../../src/nn/init.js';
import { NumpyRandomState } from '../../src/nn/numpy-rng.js';
import { Rng } from '../../src/rng.js';

// numpy 2.4.6 reference weights, the deeplearning.ai course's initialisations:
//   4-layer: np.random.seed(1); for l in 1..4: W[l] = np.random.randn(n[l], n[l-1]) / np.sqrt(n[l-1])
//            with n = [12288, 20, 7, 5, 1]
//   2-layer: np.random.seed(1); W1 = np.random.randn(7, 12288) * 0.01; W2 = np.random.randn(1, 7) * 0.01
// The model stores float32, so each float64 value is compared after rounding to float32; the
// last-bit log differences (test/nn/numpy-rng.test.ts) never reached a float32 value: all
// 245,940 + 86,023 weights of seeds 1-5 matched exactly when this was written.
const shapes = (dims: number[]) => dims.slice(1).map((units, l) => ({ units, fanIn: dims[l] }));
const DEEP = shapes([12288, 20, 7, 5, 1]);
const SHALLOW = shapes([12288, 7, 1]);

function expectF32(actual: ArrayLike<number>, at: number[], expected: number[]): void {
  expect(at.map((i) => actual[i])).toEqual(expected.map((e) => Math.fround(e)));
}

describe('numpy initialisers (the course draws)', () => {
  it('numpy-lecun-normal, [12288, 20, 7, 5, 1], seed 1: one stream across W1..W4', () => {
    const [W1, W2, W3, W4] = initModelWeights(
      DEEP.map(() => 'numpy-lecun-normal'),
      DEEP,
      1,
      new Rng(1),
    );
    expect([W1.length, W2.length, W3.length, W4.length]).toEqual([20 * 12288, 7 * 20, 5 * 7, 5]);
    const n1 = W1.length;
    expectF32(
      W1,
      [0, 1, 2, 3, 7 * 12288 + 100, n1 - 3, n1 - 2, n1 - 1],
      [
        0.014653378640123331, -0.0055187145328023605, -0.004764689114807226, -0.009679355044279483,
        -0.017262206649395595, 0.019834054002018885, 0.013876182156812883, 0.006735189662709199,
      ],
    );
    expectF32(
      W2,
      [0, 1, 2, 139],
      [0.20259018442992263, -0.3085417042876024, -0.3774661225565801, -0.11263982826267017],
    );
    expectF32(
      W3,
      [0, 1, 2, 34],
      [0.2093063448394052, 0.36232545412104544, 0.8664853156880872, -0.5886395877769633],
    );
    expectF32(
      W4,
      [0, 1, 2, 3, 4],
      [
        -0.38423553330727866, -0.019751508080455768, 0.5008105331955379, 0.8976636752163728,
        0.018698163198335283,
      ],
    );
  });

  it('numpy-normal-0.01, [12288, 7, 1], seed 1', () => {
    const [W1, W2] = initModelWeights(['numpy-normal-0.01', 'numpy-normal-0.01'], SHALLOW, 1, new Rng(1));
    expectF32(
      W1,
      [0, 1, 2, W1.length - 1],
      [0.01624345363663242, -0.006117564136500754, -0.005281717522634557, 0.003597947274769761],
    );
    expectF32(
      W2,
      [0, 1, 2, 3, 4, 5, 6],
      [
        -0.008533065088761125, 0.026267755393225116, 0.00144462274133704, 0.02815821542661361,
        -4.482470369058102e-5, 0.0156583537165925, -0.0029008464298936926,
      ],
    );
  });

  it('numpy layers continue one stream past other kinds, which keep drawing from the Rng alone', () => {
    const layers = shapes([6, 5, 4, 3]);
    const rng = new Rng(9);
    const [W1, W2, W3] = initModelWeights(
      ['numpy-lecun-normal', 'he-normal', 'numpy-normal-0.01'],
      layers,
      4,
      rng,
    );
    const np = new NumpyRandomState(4);
    const n1 = Array.from({ length: 30 }, () => Math.fround(np.normal() / Math.sqrt(6)));
    const n3 = Array.from({ length: 12 }, () => Math.fround(np.normal() * 0.01));
    expect(Array.from(W1)).toEqual(n1);
    expect(Array.from(W3)).toEqual(n3);
    const alone = new Rng(9);
    expect(Array.from(W2)).toEqual(Array.from(initWeights('he-normal', 4, 5, alone)));
    expect(rng.state()).toEqual(alone.state());
  });

  it('rejects seeds numpy cannot take, with a ConfigError naming the kind', () => {
    for (const seed of [-1, 2 ** 32]) {
      expect(() =>
        initModelWeights(['numpy-lecun-normal'], [{ units: 2, fanIn: 3 }], seed, new Rng(0)),
      ).toThrow(/numpy-lecun-normal.*\[0, 2\^32-1\]/);
    }
    // Engine kinds still take any integer seed.
    expect(() => initModelWeights(['he-normal'], [{ units: 2, fanIn: 3 }], -1, new Rng(-1))).not.toThrow();
  });

  it('refuses numpy kinds in the single-layer Rng path, unknown kinds and miscounted lists', () => {
    expect(() => initWeights('numpy-lecun-normal', 2, 3, new Rng(0))).toThrow(ConfigError);
    const unknown = (): Float32Array[] =>
      initModelWeights(['orthogonal' as Init], [{ units: 2, fanIn: 3 }], 0, new Rng(0));
    expect(unknown).toThrow(ConfigError);
    expect(unknown).toThrow(`use one of ${INITS.join(', ')}.`);
    expect(() => initModelWeights(['zeros'], shapes([3, 2, 1]), 0, new Rng(0))).toThrow(
      'init lists 1 initialisers for 2 layers.',
    );
  });
});
