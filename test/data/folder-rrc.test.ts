// Image folders for random-resized crop: the decoded cache keeps each picture at 8/7 the training
// size (its centre cut to the training aspect) and the set carries `crop` = the training size;
// 'auto' does so only for photos (short side >= RRC_AUTO_MIN_SIDE), and a test/ folder follows
// its train/ folder. Records equal preprocessing the file at the record size with a centre crop.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encode as encodePng } from 'fast-png';
import { afterAll, describe, expect, it } from 'vitest';
import { RRC_AUTO_MIN_SIDE, rrcRecordSize } from '../../src/data/augment-rrc.js';
import { readImageFileFromDisk } from '../../src/data/readers-node.js';
import { openDataset, shapeOf } from '../../src/data/open.js';
import { Rng } from '../../src/rng.js';

const tmps: string[] = [];
function tmp(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'wgt-rrc-'));
  tmps.push(d);
  return d;
}
afterAll(() => tmps.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** root/<class>/<i>.png pictures of w x h (noise), `per` per class, two classes. */
function folder(root: string, w: number, h: number, per: number): void {
  const rng = new Rng(w * 31 + h);
  for (const c of ['a', 'b']) {
    mkdirSync(path.join(root, c), { recursive: true });
    for (let i = 0; i < per; i++) {
      const data = Uint8Array.from({ length: w * h * 3 }, () => rng.int(256));
      writeFileSync(
        path.join(root, c, `${i}.png`),
        encodePng({ width: w, height: h, data, channels: 3, depth: 8 }),
      );
    }
  }
}

describe('image folders stored for random-resized crop', () => {
  it('records at 8/7 the size with the crop set; each equals the file cut at its centre', async () => {
    const root = tmp();
    folder(root, 150, 120, 3);
    const cacheDir = tmp();
    const d = await openDataset(root, { imageSize: [112, 112], rrc: true, cacheDir });
    const rec = rrcRecordSize({ height: 112, width: 112 });
    expect(rec).toEqual({ height: 128, width: 128 });
    expect([d.train.height, d.train.width]).toEqual([128, 128]);
    expect(d.train.crop).toEqual({ height: 112, width: 112 });
    expect(shapeOf(d.train)).toEqual([112, 112, 3]);
    expect(d.shape).toEqual([112, 112, 3]);
    const file = path.join(root, 'b', '1.png');
    const want = await readImageFileFromDisk(file, { size: [128, 128], channels: 3, mode: 'center-crop' });
    const i = d.train.count - 2;
    const got = d.train.images.subarray(i * want.length, (i + 1) * want.length);
    expect(Buffer.compare(Buffer.from(got), Buffer.from(want))).toBe(0);
    // A second open reads the cache, crop included; without rrc it is another slot at 112.
    const again = await openDataset(root, { imageSize: [112, 112], rrc: true, cacheDir });
    expect(again.train.crop).toEqual({ height: 112, width: 112 });
    const plain = await openDataset(root, { imageSize: [112, 112], cacheDir });
    expect(plain.train.crop).toBeUndefined();
    expect(plain.train.height).toBe(112);
  });

  it("'auto' stores photos for rrc, thumbnails as they are; test/ follows train/", async () => {
    const small = tmp();
    folder(small, 32, 32, 2);
    const s = await openDataset(small, { rrc: 'auto', cacheDir: tmp() });
    expect(s.train.crop).toBeUndefined();
    expect(s.shape).toEqual([32, 32, 3]);

    const big = tmp();
    folder(path.join(big, 'train'), RRC_AUTO_MIN_SIDE + 4, RRC_AUTO_MIN_SIDE + 4, 2);
    folder(path.join(big, 'test'), 130, 140, 1);
    const b = await openDataset(big, { rrc: 'auto', cacheDir: tmp() });
    const side = RRC_AUTO_MIN_SIDE + 4; // every training picture one size: that size
    expect(b.train.crop).toEqual({ height: side, width: side });
    expect(b.test?.crop).toEqual({ height: side, width: side });
    expect(b.test?.height).toBe(rrcRecordSize({ height: side, width: side }).height);
  });
});
