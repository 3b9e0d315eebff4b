import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors.js';
import { matmul, matmulBackward, matmulForward } from '../../src/reference/matmul.js';
import { Rng } from '../../src/rng.js';
import { dot, expectAllClose, expectGradMatches, randArray } from './helpers.js';

// [B, K, N]: 1, primes and tile-size +-1.
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [7, 13, 5],
  [15, 17, 16],
];

function transpose(a: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const t = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j];
  return t;
}

describe('reference matmul', () => {
  it('exact tier: small integers, every transpose form', () => {
    // A = [[1,2,3],[4,5,6]] (2x3), B = [[7,8],[9,10],[11,12]] (3x2): A·B = [[58,64],[139,154]].
    const A = [1, 2, 3, 4, 5, 6];
    const Bm = [7, 8, 9, 10, 11, 12];
    const C = [58, 64, 139, 154];
    expect(Array.from(matmul(A, Bm, 2, 3, 2, false, false))).toEqual(C);
    expect(Array.from(matmul(transpose(A, 2, 3), Bm, 2, 3, 2, true, false))).toEqual(C);
    expect(Array.from(matmul(A, transpose(Bm, 3, 2), 2, 3, 2, false, true))).toEqual(C);
    expect(Array.from(matmul(transpose(A, 2, 3), transpose(Bm, 3, 2), 2, 3, 2, true, true))).toEqual(C);
  });

  it('forward adds the bias to every row; null bias means none', () => {
    // X = [[1,2]], W = [[1,0],[0,1],[1,1]] -> X·Wᵀ = [1,2,3].
    const X = [1, 2];
    const W = [1, 0, 0, 1, 1, 1];
    expect(Array.from(matmulForward(X, W, [10, 20, 30], 1, 2, 3))).toEqual([11, 22, 33]);
    expect(Array.from(matmulForward(X, W, null, 1, 2, 3))).toEqual([1, 2, 3]);
  });

  it('rejects inconsistent sizes with ShapeError', () => {
    expect(() => matmul([1, 2, 3], [1, 2], 1, 2, 1, false, false)).toThrow(ShapeError);
    expect(() => matmulForward([1, 2], [1, 2], [1, 2], 1, 2, 1)).toThrow(ShapeError);
    expect(() => matmulBackward([1], [1, 2], [1], 1, 2, 1)).toThrow(ShapeError);
  });

  for (const [B, K, N] of SHAPES) {
    it(`generic forms agree with explicit transposes at ${B}x${K}x${N}`, () => {
      const rng = new Rng(B * 1000 + K * 10 + N);
      const X = randArray(rng, B * K);
      const W = randArray(rng, N * K);
      const Wt = transpose(W, N, K);
      const ref = matmul(X, Wt, B, K, N, false, false);
      const tol = { atol: 1e-13, rtol: 1e-13 };
      expectAllClose(matmul(X, W, B, K, N, false, true), ref, tol, 'A·Bᵀ');
      expectAllClose(matmul(transpose(X, B, K), Wt, B, K, N, true, false), ref, tol, 'Aᵀ·B');
      expectAllClose(matmul(transpose(X, B, K), W, B, K, N, true, true), ref, tol, 'Aᵀ·Bᵀ');
    });

    it(`backward matches finite differences at ${B}x${K}x${N}`, () => {
      const rng = new Rng(B * 7 + K * 3 + N);
      const X = randArray(rng, B * K);
      const W = randArray(rng, N * K);
      const b = randArray(rng, N);
      const R = randArray(rng, B * N); // dZ: L = Σ R ⊙ Z
      const L = (): number => dot(R, matmulForward(X, W, b, B, K, N));
      const g = matmulBackward(R, X, W, B, K, N);
      expectGradMatches(L, X, g.dX, 'dX');
      expectGradMatches(L, W, g.dW, 'dW');
      expectGradMatches(L, b, g.db, 'db');
    });
  }
});
