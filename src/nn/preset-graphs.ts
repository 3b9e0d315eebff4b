// The graph presets (src/nn/presets.ts names them): residual and inverted-residual networks sized
// to the image. Every conv is bias-free and followed by a batch norm; names are `{stage}.{block}.*`.
//
//   resnet     images up to 64 px a side: a ResNet-9-style net (Page's fast CIFAR-10 design),
//              at width w = 16: stem conv 3x3 w -> [conv 2w, maxpool, residual block 2w] ->
//              [conv 4w, maxpool] -> [conv 8w, maxpool, residual block 8w] -> global average
//              pool -> output. A residual block is conv-bn-relu-conv-bn added to its input, then
//              relu (He et al.'s basic block). 24 MMAC forward on a 32x32x3 image. Small maps
//              stop pooling at 2 px a side (8x8 digits keep a 2x2 map).
//              Larger images: a ResNet-18-like net at half width: stem conv 3x3 stride 2 (32) ->
//              maxpool 2 -> four stages of two basic blocks (32, 64, 128, 256 filters; the first
//              block of stages 2-4 has stride 2 and a 1x1 conv + batch norm projection on its skip)
//              -> global average pool -> output.
//   mobilenet  MobileNetV2's inverted residual blocks (expand 1x1 to t*C, relu6; depthwise 3x3,
//              relu6; project 1x1, no activation; added to the input when stride 1 and widths
//              agree) at a reduced depth: stem conv 3x3 32 (stride 2 above 64 px) -> blocks
//              (t, c, n, s) = (1, 16, 1, 1), (6, 24, 2, s), (6, 32, 2, 2), (6, 64, 2, 2),
//              (6, 96, 1, 1) with s = 1 up to 64 px, else 2 -> conv 1x1 256 relu6 -> global average
//              pool -> dropout 0.2 -> output. A stride is dropped where the map is already 2 px.

import type { Activation } from './activations.js';
import type { LayerSpec } from './layer-types.js';

/** Appends named layers; `at` is the name of the last output. */
class Builder {
  readonly layers: LayerSpec[] = [];
  at = 'input';
  side: number;

  constructor(side: number) {
    this.side = side;
  }

  /** conv (no bias) -> batch norm with `act`, reading `from` (default: the last output). */
  convBn(
    name: string,
    filters: number,
    k: number,
    stride: number,
    act: Activation,
    from = this.at,
    groups = 1,
  ): string {
    const conv: LayerSpec = {
      type: 'conv2d',
      name: `${name}.conv`,
      inputs: from,
      filters,
      kernelSize: k,
      stride,
    };
    Object.assign(conv, { padding: k === 1 ? 'valid' : 'same', bias: false }, groups > 1 ? { groups } : {});
    this.layers.push(conv, { type: 'batchnorm', name: `${name}.bn`, activation: act });
    this.at = `${name}.bn`;
    return this.at;
  }

  add(name: string, a: string, b: string, act: Activation): void {
    this.layers.push({ type: 'add', name, inputs: [a, b], activation: act });
    this.at = name;
  }

  pool(name: string): void {
    if (this.side < 4) return;
    this.layers.push({ type: 'maxpool2d', name, inputs: this.at, size: 2 });
    this.at = name;
    this.side = Math.floor(this.side / 2);
  }

  /** Stride 2 while the map is at least 4 px a side, else 1. */
  stride(want: number): number {
    if (want === 1 || this.side < 4) return 1;
    this.side = Math.ceil(this.side / 2);
    return 2;
  }

  /** He et al.'s basic block; a projection on the skip when the stride or width changes. */
  basic(name: string, filters: number, stride: number, inWidth: number): void {
    const x = this.at;
    const s = this.stride(stride);
    this.convBn(`${name}.1`, filters, 3, s, 'relu', x);
    const r = this.convBn(`${name}.2`, filters, 3, 1, 'identity');
    const skip =
      s !== 1 || inWidth !== filters ? this.convBn(`${name}.proj`, filters, 1, s, 'identity', x) : x;
    this.add(`${name}.add`, r, skip, 'relu');
  }

  /** MobileNetV2's inverted residual block. */
  inverted(name: string, t: number, filters: number, stride: number, inWidth: number): void {
    const x = this.at;
    const s = this.stride(stride);
    if (t !== 1) this.convBn(`${name}.expand`, inWidth * t, 1, 1, 'relu6');
    this.convBn(`${name}.dw`, inWidth * t, 3, s, 'relu6', this.at, inWidth * t);
    const y = this.convBn(`${name}.project`, filters, 1, 1, 'identity');
    if (s === 1 && inWidth === filters) this.add(`${name}.add`, y, x, 'identity');
  }

  head(dropout = 0): LayerSpec[] {
    this.layers.push({ type: 'globalavgpool', name: 'pool', inputs: this.at });
    if (dropout > 0) this.layers.push({ type: 'dropout', rate: dropout });
    return this.layers;
  }
}

export function resnetLayers(shape: readonly number[]): LayerSpec[] {
  const side = Math.min(shape[0], shape[1]);
  const b = new Builder(side);
  if (side <= 64) {
    const w = 16;
    b.convBn('stem', w, 3, 1, 'relu');
    b.convBn('s1', 2 * w, 3, 1, 'relu');
    b.pool('s1.pool');
    b.basic('s1.res', 2 * w, 1, 2 * w);
    b.convBn('s2', 4 * w, 3, 1, 'relu');
    b.pool('s2.pool');
    b.convBn('s3', 8 * w, 3, 1, 'relu');
    b.pool('s3.pool');
    b.basic('s3.res', 8 * w, 1, 8 * w);
    return b.head();
  }
  b.convBn('stem', 32, 3, b.stride(2), 'relu');
  b.pool('stem.pool');
  let width = 32;
  [32, 64, 128, 256].forEach((filters, stage) => {
    for (let block = 0; block < 2; block++) {
      b.basic(`s${stage + 1}.${block}`, filters, stage > 0 && block === 0 ? 2 : 1, width);
      width = filters;
    }
  });
  return b.head();
}

export function mobilenetLayers(shape: readonly number[]): LayerSpec[] {
  const side = Math.min(shape[0], shape[1]);
  const b = new Builder(side);
  const large = side > 64;
  b.convBn('stem', 32, 3, b.stride(large ? 2 : 1), 'relu6');
  let width = 32;
  const blocks: [number, number, number, number][] = [
    [1, 16, 1, 1],
    [6, 24, 2, large ? 2 : 1],
    [6, 32, 2, 2],
    [6, 64, 2, 2],
    [6, 96, 1, 1],
  ];
  blocks.forEach(([t, c, n, s], stage) => {
    for (let i = 0; i < n; i++) {
      b.inverted(`s${stage + 1}.${i}`, t, c, i === 0 ? s : 1, width);
      width = c;
    }
  });
  b.convBn('last', 256, 1, 1, 'relu6');
  return b.head(0.2);
}
