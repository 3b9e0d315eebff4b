// The picture every file in test/fixtures/images/formats/ holds (written by
// scripts/make-image-fixtures.mjs, which keeps the same block table): 24x16, six 8x8 blocks of
// distinct colours, so a wrong orientation, a swapped channel or a shifted crop shows.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO } from './datasets.js';

export const FORMATS_DIR = path.join(REPO, 'test/fixtures/images/formats');
export const W = 24;
export const H = 16;
/** Block colours, row by row. */
export const BLOCKS = [
  [
    [220, 40, 40],
    [240, 240, 240],
    [40, 40, 220],
  ],
  [
    [40, 200, 40],
    [20, 20, 20],
    [230, 210, 40],
  ],
];

export const luma = ([r, g, b]: number[]): number => Math.round(0.299 * r + 0.587 * g + 0.114 * b);

/** The pattern as RGB, or its BT.601 grey expanded to RGB. */
export function pattern(grey = false): Uint8Array {
  const px = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const c = BLOCKS[y >> 3][x >> 3];
      px.set(grey ? [luma(c), luma(c), luma(c)] : c, (y * W + x) * 3);
    }
  }
  return px;
}

/** A fixture file's bytes. */
export const bytesOf = (file: string): Uint8Array =>
  new Uint8Array(readFileSync(path.join(FORMATS_DIR, file)));
