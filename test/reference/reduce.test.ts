import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors.js';
import { columnSum, globalNorm, mean, sumSquares } from '../../src/reference/reduce.js';

describe('reference reductions (exact tier)', () => {
  it('columnSum sums over rows', () => {
    // (3,2): columns [1,3,5] and [2,4,6]
    expect(Array.from(columnSum([1, 2, 3, 4, 5, 6], 3, 2))).toEqual([9, 12]);
    expect(Array.from(columnSum([7], 1, 1))).toEqual([7]);
    expect(() => columnSum([1, 2, 3], 2, 2)).toThrow(ShapeError);
  });

  it('mean averages the first n values only', () => {
    expect(mean([1, 2, 6, 100], 3)).toBe(3);
    expect(() => mean([1], 2)).toThrow(ShapeError);
  });

  it('sumSquares and globalNorm cover every array together', () => {
    expect(sumSquares([1, -2, 3])).toBe(14);
    expect(globalNorm([[3], [0, 4], []])).toBe(5);
  });
});
