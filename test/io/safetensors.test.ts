import { describe, expect, it } from 'vitest';
import { ConfigError, ModelFormatError, ShapeError } from '../../src/errors.js';
import { decodeSafetensors, encodeSafetensors, type Tensor } from '../../src/io/safetensors.js';
import { Rng } from '../../src/rng.js';
import { withHeader } from './fixtures.js';

const latin1 = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));
const u64le = (n: number): number[] => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, 0, 0, 0, 0, 0];
/** 0, 1, 2, 3, 4, 5 as little-endian float32. */
const F32_0_TO_5 = [0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64];

function expectFormatError(f: () => unknown, message: RegExp): void {
  let error: unknown;
  try {
    f();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(ModelFormatError);
  expect((error as ModelFormatError).message).toMatch(message);
  expect((error as ModelFormatError).file).toBe('test.safetensors');
}

const decode = (bytes: Uint8Array, options = {}) => decodeSafetensors(bytes, 'test.safetensors', options);

// Byte strings produced by the reference (Rust) writer that backs safetensors.torch.save_file,
// written out by hand here: header JSON without spaces, padded with spaces to 8 bytes.
describe('golden files', () => {
  it('matches the reference writer for one F32 tensor (header padded with 7 spaces)', () => {
    const header = '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       ';
    const golden = new Uint8Array([...u64le(72), ...latin1(header), ...F32_0_TO_5]);
    const out = encodeSafetensors({
      attn0: { dtype: 'F32', shape: [1, 1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) },
    });
    expect(out).toEqual(golden);
    const { tensors, metadata } = decode(golden);
    expect(metadata).toEqual({});
    expect(tensors.attn0.dtype).toBe('F32');
    expect(tensors.attn0.shape).toEqual([1, 1, 2, 3]);
    expect(Array.from(tensors.attn0.data as Float32Array)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('matches the reference writer for an empty file, with and without metadata', () => {
    expect(encodeSafetensors({})).toEqual(new Uint8Array([...u64le(8), ...latin1('{}      ')]));
    const withMeta = new Uint8Array([...u64le(40), ...latin1('{"__metadata__":{"framework":"pt"}}     ')]);
    expect(encodeSafetensors({}, { framework: 'pt' })).toEqual(withMeta);
    expect(decode(withMeta)).toEqual({ tensors: {}, metadata: { framework: 'pt' } });
  });

  it('parses a hand-built file: unpadded header, entries out of offset order, mixed dtypes', () => {
    const header =
      '{"b":{"dtype":"I64","shape":[2],"data_offsets":[4,20]},' +
      '"__metadata__":{"k":"v","é":"ü"},' +
      '"a":{"dtype":"U8","shape":[2,2],"data_offsets":[0,4]},' +
      '"z":{"dtype":"F64","shape":[0,3],"data_offsets":[20,20]},' +
      '"c":{"dtype":"I16","shape":[],"data_offsets":[20,22]}}';
    const h = new TextEncoder().encode(header);
    const data = [
      1,
      2,
      3,
      4,
      ...[255, 255, 255, 255, 255, 255, 255, 255],
      ...[5, 0, 0, 0, 0, 0, 0, 0],
      0xfe,
      0xff,
    ];
    const bytes = new Uint8Array([...u64le(h.length), ...h, ...data]);
    const { tensors, metadata } = decode(bytes);
    expect(metadata).toEqual({ k: 'v', é: 'ü' });
    expect(Object.keys(tensors)).toEqual(['a', 'b', 'z', 'c']);
    expect(tensors.a).toEqual({ dtype: 'U8', shape: [2, 2], data: new Uint8Array([1, 2, 3, 4]) });
    expect(tensors.b.data).toEqual(new BigInt64Array([-1n, 5n]));
    expect(tensors.z.data).toEqual(new Float64Array(0));
    expect(tensors.c).toEqual({ dtype: 'I16', shape: [], data: new Int16Array([-2]) });
  });
});

function allDtypes(rng: Rng): Record<string, Tensor> {
  const bits = (n: number) => {
    const a = new Uint8Array(n);
    for (let i = 0; i < n; i++) a[i] = rng.int(256);
    return a;
  };
  const shapes: Record<string, number[]> = {
    BOOL: [3],
    U8: [7, 13],
    I8: [5],
    F8_E5M2: [2],
    F8_E4M3: [1, 1, 1],
    I16: [3, 1],
    U16: [9],
    F16: [17],
    BF16: [16],
    I32: [45, 3],
    U32: [1],
    F32: [15, 17],
    F64: [2, 2, 2],
    I64: [3],
    U64: [0, 5],
  };
  const ctors = {
    BOOL: Uint8Array,
    U8: Uint8Array,
    I8: Int8Array,
    F8_E5M2: Uint8Array,
    F8_E4M3: Uint8Array,
    I16: Int16Array,
    U16: Uint16Array,
    F16: Uint16Array,
    BF16: Uint16Array,
    I32: Int32Array,
    U32: Uint32Array,
    F32: Float32Array,
    F64: Float64Array,
    I64: BigInt64Array,
    U64: BigUint64Array,
  } as const;
  const out: Record<string, Tensor> = {};
  for (const [dtype, shape] of Object.entries(shapes)) {
    const ctor = ctors[dtype as keyof typeof ctors];
    const n = shape.reduce((a, b) => a * b, 1);
    // Random bit patterns, so float NaN payloads and signed zeros must survive too.
    out[`t.${dtype.toLowerCase()}`] = {
      dtype: dtype as Tensor['dtype'],
      shape,
      data: new ctor(bits(n * ctor.BYTES_PER_ELEMENT).buffer),
    };
  }
  return out;
}

const rawBytes = (t: Tensor) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);

describe('round trip', () => {
  it('is bit exact for every dtype and keeps metadata', () => {
    const tensors = allDtypes(new Rng(7));
    const metadata = { format: 'pt', note: 'ünïcødé "quoted" \n newline', '0': 'integer-like key' };
    const back = decode(encodeSafetensors(tensors, metadata));
    expect(back.metadata).toEqual(metadata);
    expect(Object.keys(back.tensors).sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      expect(back.tensors[name].dtype).toBe(t.dtype);
      expect(back.tensors[name].shape).toEqual(t.shape);
      expect(back.tensors[name].data.constructor).toBe(t.data.constructor);
      expect(rawBytes(back.tensors[name])).toEqual(rawBytes(t));
    }
  });

  it('is deterministic whatever the insertion order, with 8-byte header and aligned data', () => {
    const tensors = allDtypes(new Rng(3));
    const reversed = Object.fromEntries(Object.entries(tensors).reverse());
    const a = encodeSafetensors(tensors, { x: '1', a: '2' });
    const b = encodeSafetensors(reversed, { a: '2', x: '1' });
    expect(a).toEqual(b);
    const n = Number(new DataView(a.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const back = decode(a);
    for (const t of Object.values(back.tensors)) {
      // Views, not copies, because the writer orders tensors by descending element size.
      expect(t.data.buffer).toBe(a.buffer);
      expect(t.data.byteOffset % t.data.BYTES_PER_ELEMENT).toBe(0);
    }
  });

  it('copies tensors that would be misaligned, and everything when asked', () => {
    const tensors = allDtypes(new Rng(5));
    const bytes = encodeSafetensors(tensors);
    const shifted = new Uint8Array(bytes.length + 1).subarray(1);
    shifted.set(bytes);
    for (const options of [{}, { copy: true }]) {
      for (const source of [shifted, bytes]) {
        const back = decode(source, options);
        for (const [name, t] of Object.entries(back.tensors)) {
          expect(t.data.byteOffset % t.data.BYTES_PER_ELEMENT).toBe(0);
          expect(rawBytes(t)).toEqual(rawBytes(tensors[name]));
          if ('copy' in options) expect(t.data.buffer).not.toBe(source.buffer);
        }
      }
    }
  });

  it('accepts an ArrayBuffer', () => {
    const bytes = encodeSafetensors({ x: { dtype: 'F32', shape: [2], data: new Float32Array([1.5, -2]) } });
    expect(Array.from(decodeSafetensors(bytes.buffer, 'x').tensors.x.data as Float32Array)).toEqual([
      1.5, -2,
    ]);
  });
});

describe('writer input checks', () => {
  const f32 = new Float32Array(6);
  it('rejects mismatched data, shapes, dtypes and names', () => {
    expect(() => encodeSafetensors({ a: { dtype: 'F32', shape: [2, 2], data: f32 } })).toThrow(ShapeError);
    expect(() => encodeSafetensors({ a: { dtype: 'F32', shape: [-6], data: f32 } })).toThrow(ShapeError);
    expect(() => encodeSafetensors({ a: { dtype: 'F64', shape: [6], data: f32 } })).toThrow(/Float64Array/);
    expect(() => encodeSafetensors({ a: { dtype: 'X' as 'F32', shape: [6], data: f32 } })).toThrow(
      ConfigError,
    );
    expect(() => encodeSafetensors({ __metadata__: { dtype: 'F32', shape: [6], data: f32 } })).toThrow(
      /reserved/,
    );
    expect(() => encodeSafetensors({}, { a: 1 as unknown as string })).toThrow(ConfigError);
  });
});

describe('reader validation', () => {
  const good = encodeSafetensors({
    a: { dtype: 'F32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) },
    b: { dtype: 'F32', shape: [2], data: new Float32Array([7, 8]) },
  });
  const entry = (name: string, dtype: string, shape: unknown, offsets: unknown) =>
    `${JSON.stringify(name)}:{"dtype":${JSON.stringify(dtype)},"shape":${JSON.stringify(shape)},"data_offsets":${JSON.stringify(offsets)}}`;
  // `good` has 32 data bytes: a at [0, 24), b at [24, 32) (same dtype, so sorted by name).
  const edit = (...entries: string[]) => withHeader(good, `{${entries.join(',')}}`);
  const W = entry('a', 'F32', [2, 3], [0, 24]);
  const B = entry('b', 'F32', [2], [24, 32]);

  it('accepts the unedited file and a header rebuilt without padding', () => {
    expect(Object.keys(decode(good).tensors).sort()).toEqual(['a', 'b']);
    expect(Array.from(decode(edit(B, W)).tensors.b.data as Float32Array)).toEqual([7, 8]);
  });

  const setLength = (bytes: Uint8Array, n: bigint) => {
    const copy = bytes.slice();
    new DataView(copy.buffer).setBigUint64(0, n, true);
    return copy;
  };

  it.each([
    ['an empty file', new Uint8Array(0), /0 bytes.*8-byte header length/],
    ['a 7-byte file', new Uint8Array(7), /7 bytes/],
    ['a header length past the end', setLength(good, BigInt(good.length - 7)), /only \d+ bytes follow/],
    ['a header length of 2^64 - 1', setLength(good, 2n ** 64n - 1n), /18446744073709551615 bytes exceeds/],
    ['a header length of 2^63', setLength(good, 2n ** 63n), /exceeds the 100000000-byte limit/],
    ['a header length of 2^53 + 1', setLength(good, 2n ** 53n + 1n), /exceeds/],
    ['a zero header length', setLength(good, 0n), /starting with "\{"/],
    ['a header that is a JSON array', withHeader(good, '[]'), /starting with "\{"/],
    ['a header with leading space', withHeader(good, ` {${W},${B}}`), /starting with "\{"/],
    ['invalid UTF-8', withHeader(good, `{"\xff":1}`).map((b) => (b === 0xc3 ? 0xff : b)), /not valid UTF-8/],
    ['truncated JSON', withHeader(good, `{${W}`), /not valid JSON.*expected "," or "\}"/],
    ['trailing garbage', withHeader(good, `{${W},${B}}x`), /after the JSON value/],
    ['NUL padding', withHeader(good, `{${W},${B}}\0\0`), /not valid JSON/],
    ['a duplicate tensor', edit(W, B, entry('a', 'F32', [2], [24, 32])), /duplicate key "a"/],
    [
      'an escaped duplicate',
      edit(W, B, entry('\u0062', 'F32', [2], [24, 32]).replace('"b"', '"\\u0062"')),
      /duplicate key "b"/,
    ],
    [
      'deep nesting',
      edit(W, B, `"__metadata__":${'['.repeat(100)}${']'.repeat(100)}`),
      /nesting deeper than 64/,
    ],
    [
      'a non-string metadata value',
      edit(W, B, '"__metadata__":{"k":1}'),
      /metadata value for "k" must be a string/,
    ],
    ['a metadata array', edit(W, B, '"__metadata__":["a"]'), /"__metadata__" must be an object of strings/],
    ['a non-object entry', edit(W, B, '"x":[1]'), /tensor "x": entry must be an object/],
    [
      'an extra field',
      edit(W, '"b":{"dtype":"F32","shape":[2],"data_offsets":[24,32],"x":1}'),
      /unexpected field "x"/,
    ],
    ['an unknown dtype', edit(W, entry('b', 'F99', [2], [24, 32])), /unknown dtype "F99"/],
    ['a lower-case dtype', edit(W, entry('b', 'f32', [2], [24, 32])), /unknown dtype "f32"/],
    ['a negative dim', edit(W, entry('b', 'F32', [-2], [24, 32])), /non-negative integers, got -2/],
    ['a fractional dim', edit(W, entry('b', 'F32', [2.5], [24, 32])), /got 2.5/],
    ['a string dim', edit(W, entry('b', 'F32', ['2'], [24, 32])), /got "2"/],
    [
      'a dim of 1e400',
      edit(W, '"b":{"dtype":"F32","shape":[1e400],"data_offsets":[24,32]}'),
      /not valid JSON: number 1e400 is out of range/,
    ],
    [
      'a dim of 1e20',
      edit(W, entry('b', 'F32', [1e20], [24, 32])),
      /non-negative integers, got 100000000000000000000/,
    ],
    ['a non-array shape', edit(W, entry('b', 'F32', 2, [24, 32])), /shape must be an array/],
    ['rank 33', edit(W, entry('b', 'F32', new Array(33).fill(1), [24, 32])), /rank 33 exceeds/],
    [
      'an absurd shape',
      edit(W, entry('b', 'F32', [2 ** 53 - 1, 2 ** 53 - 1], [24, 32])),
      /needs more bytes than the 32-byte/,
    ],
    ['a shape too large for the file', edit(W, entry('b', 'F32', [9], [24, 32])), /needs more bytes/],
    [
      'a shape that does not match offsets',
      edit(W, entry('b', 'F32', [1], [24, 32])),
      /span 8 bytes but F32 shape \[1\] needs 4/,
    ],
    ['one offset', edit(W, entry('b', 'F32', [2], [24])), /data_offsets must be two/],
    ['negative offsets', edit(W, entry('b', 'F32', [2], [-8, 0])), /data_offsets must be two/],
    ['offsets past the buffer', edit(W, entry('b', 'F32', [2], [32, 40])), /outside the 32-byte data buffer/],
    ['reversed offsets', edit(W, entry('b', 'F32', [2], [32, 24])), /outside/],
    ['huge offsets', edit(W, entry('b', 'F32', [2], [2 ** 60, 2 ** 60 + 8])), /two non-negative integers/],
    [
      'overlapping tensors',
      edit(W, entry('b', 'F32', [2], [16, 24]), entry('c', 'F32', [2], [24, 32])),
      /"a" and "b" overlap/,
    ],
    ['a gap', edit(entry('a', 'F32', [5], [0, 20]), B), /4 bytes at data offset 20, before tensor "b"/],
    ['trailing bytes', edit(W), /trailing/],
    ['no tensors but data', withHeader(good, '{}'), /cover 0 bytes but the data buffer holds 32/],
  ])('rejects %s', (_what, bytes, message) => {
    expectFormatError(() => decode(bytes), message);
  });

  it('applies the maxHeaderBytes and maxRank options', () => {
    expectFormatError(() => decode(good, { maxHeaderBytes: 16 }), /exceeds the 16-byte limit/);
    expectFormatError(
      () => decode(edit(W, entry('b', 'F32', [1, 2, 1], [24, 32])), { maxRank: 2 }),
      /rank 3/,
    );
  });

  it('keeps a tensor named __proto__ as an ordinary entry', () => {
    const bytes = withHeader(good, `{${W},${entry('__proto__', 'F32', [2], [24, 32])}}`);
    const { tensors } = decode(bytes);
    expect(Object.hasOwn(tensors, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(tensors)).toBe(Object.prototype);
  });
});

describe('Node Buffers', () => {
  it('copies tensors out of a Buffer (whose slice is a view) with copy: true', () => {
    const W = Float32Array.from([1.5, -2, 3.25, 4]);
    const bytes = encodeSafetensors({ w: { dtype: 'F32', shape: [4], data: W } }, { k: 'v' });
    // A Buffer at an offset inside a larger allocation, as fs.readFile may return.
    const big = Buffer.alloc(bytes.length + 13);
    big.set(bytes, 13);
    const buf = big.subarray(13);
    for (const copy of [true, false]) {
      const { tensors } = decodeSafetensors(buf, 'buf', { copy });
      expect(Array.from(tensors.w.data as Float32Array), `copy ${copy}`).toEqual([1.5, -2, 3.25, 4]);
    }
  });
});
