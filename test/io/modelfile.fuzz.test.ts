// Seeded mutation fuzzing of real model and checkpoint files. Every mutant must either load into
// a model that re-saves and reloads identically, or throw ModelFormatError; nothing else may
// escape (RangeError, TypeError, out-of-memory), no load may take more than a second, and no
// load may allocate in proportion to a corrupted length, shape or offset.

import { describe, expect, it } from 'vitest';
import { ModelFormatError } from '../../src/errors.js';
import {
  CHECKPOINT_METADATA_KEY,
  loadCheckpoint,
  loadModel,
  MODEL_METADATA_KEY,
  saveCheckpoint,
  saveModel,
} from '../../src/io/modelfile.js';
import { Rng } from '../../src/rng.js';
import { makeCheckpoint, makeModel } from './fixtures.js';

const CASES_PER_FILE = 1500;
const MAX_MS_PER_CASE = 1000;
// Far below what any corrupted size field would ask for, far above the files' few kilobytes.
const MAX_ARRAY_BUFFER_GROWTH = 8 << 20;

const SPECIAL_NUMBERS = [
  0,
  1,
  -1,
  2,
  3,
  7,
  8,
  1.5,
  -0.5,
  255,
  256,
  65535,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32 - 1,
  2 ** 32,
  2 ** 32 + 1,
  2 ** 53 - 1,
  2 ** 53,
  2 ** 53 + 2,
  2 ** 63,
  2 ** 64,
  1e308,
  -1e308,
  1e-300,
];
const SPECIAL_U64 = [
  0n,
  1n,
  2n,
  7n,
  8n,
  2n ** 31n,
  2n ** 32n - 1n,
  2n ** 32n,
  2n ** 53n,
  2n ** 53n + 1n,
  2n ** 63n - 1n,
  2n ** 63n,
  2n ** 64n - 1n,
];
const SPECIAL_BYTES = [
  0x00, 0xff, 0x22, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x30, 0x39, 0x2d, 0x5c, 0x20, 0x80, 0xc3,
];
const DTYPE_NAMES = ['F32', 'F64', 'F16', 'BF16', 'I64', 'I32', 'U8', 'BOOL', 'f32', 'F33', '', 'U64'];

type Json = Record<string, unknown>;

function headerLength(b: Uint8Array): number {
  return Number(new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true));
}

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.int(xs.length)];
}

function specialValue(rng: Rng): unknown {
  switch (rng.int(6)) {
    case 0:
    case 1:
      return pick(rng, SPECIAL_NUMBERS);
    case 2:
      return pick(rng, ['7', null, true, [], {}, 'relu', 'x'.repeat(rng.int(40))]);
    case 3:
      return [pick(rng, SPECIAL_NUMBERS), pick(rng, SPECIAL_NUMBERS)];
    case 4:
      return rng.int(64);
    default:
      return -rng.int(64);
  }
}

function build(header: string, data: Uint8Array, declared?: bigint): Uint8Array {
  const h = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, declared ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

/** Applies `edit` to the parsed safetensors header (and re-encodes the metadata JSON strings). */
function editHeader(rng: Rng, base: Uint8Array, edit: (header: Json) => void): Uint8Array {
  const n = headerLength(base);
  const header = JSON.parse(new TextDecoder().decode(base.subarray(8, 8 + n))) as Json;
  edit(header);
  const declared = rng.int(10) === 0 ? pick(rng, SPECIAL_U64) : undefined;
  return build(JSON.stringify(header), base.subarray(8 + n), declared);
}

function mutateEntry(rng: Rng, entry: Json): void {
  const shape = entry.shape as unknown[];
  const offsets = entry.data_offsets as unknown[];
  switch (rng.int(9)) {
    case 0:
      shape[rng.int(Math.max(shape.length, 1))] = specialValue(rng);
      break;
    case 1:
      shape.push(pick(rng, [0, 1, 2, 2 ** 40]));
      break;
    case 2:
      shape.pop();
      break;
    case 3:
      offsets[rng.int(2)] = specialValue(rng);
      break;
    case 4: {
      const d = rng.int(17) - 8;
      entry.data_offsets = offsets.map((o) => (o as number) + d);
      break;
    }
    case 5:
      entry.dtype = pick(rng, DTYPE_NAMES);
      break;
    case 6:
      delete entry[pick(rng, ['dtype', 'shape', 'data_offsets'])];
      break;
    case 7:
      entry[pick(rng, ['extra', 'dtype', 'shape', 'data_offsets'])] = specialValue(rng);
      break;
    default:
      entry.data_offsets = [offsets[1], offsets[0]];
  }
}

/** Edits the JSON inside one of our metadata strings. */
function mutateOurJson(rng: Rng, text: string): string {
  const obj = JSON.parse(text) as Json;
  const paths: (string | number)[][] = [];
  const walk = (v: unknown, path: (string | number)[]) => {
    paths.push(path);
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...path, i]));
    else if (typeof v === 'object' && v !== null)
      for (const [k, x] of Object.entries(v)) walk(x, [...path, k]);
  };
  walk(obj, []);
  const path = pick(rng, paths.slice(1));
  let parent = obj as Record<string | number, unknown>;
  for (const p of path.slice(0, -1)) parent = parent[p] as Record<string | number, unknown>;
  const last = path[path.length - 1];
  const r = rng.int(10);
  if (r === 0) delete parent[last];
  else if (r === 1 && Array.isArray(parent)) parent.push(structuredClone(parent[0]));
  else if (r === 2 && typeof parent[last] === 'number')
    parent[last] = (parent[last] as number) + pick(rng, [1, -1]);
  else if (r === 3)
    parent[last] = pick(rng, [
      'identity',
      'relu',
      'softmax',
      'mse',
      'bce',
      'gelu',
      'webgpu-trainer/checkpoint',
    ]);
  else parent[last] = specialValue(rng);
  return rng.int(20) === 0 ? JSON.stringify(obj).slice(0, rng.int(text.length)) : JSON.stringify(obj);
}

function mutate(rng: Rng, base: Uint8Array): { bytes: Uint8Array; kind: string } {
  const n = headerLength(base);
  const b = base.slice();
  const inHeader = () => 8 + rng.int(n);
  const anywhere = () => rng.int(b.length);
  switch (rng.int(10)) {
    case 0: {
      const flips = 1 + rng.int(4);
      for (let i = 0; i < flips; i++) {
        const at = rng.int(3) === 0 ? anywhere() : inHeader();
        b[at] ^= 1 << rng.int(8);
      }
      return { bytes: b, kind: 'bit flip' };
    }
    case 1: {
      const at = rng.int(2) === 0 ? inHeader() : anywhere();
      b[at] = rng.int(2) === 0 ? pick(rng, SPECIAL_BYTES) : rng.int(256);
      return { bytes: b, kind: 'byte overwrite' };
    }
    case 2:
      return { bytes: b.slice(0, rng.int(b.length)), kind: 'truncation' };
    case 3: {
      const candidates = [
        ...SPECIAL_U64,
        BigInt(n - 1),
        BigInt(n + 1),
        BigInt(b.length - 8),
        BigInt(b.length),
        2n ** 32n + BigInt(n),
      ];
      const v =
        rng.int(4) === 0
          ? (BigInt(rng.nextUint32()) << 32n) | BigInt(rng.nextUint32())
          : pick(rng, candidates);
      new DataView(b.buffer).setBigUint64(0, v, true);
      return { bytes: b, kind: 'header length' };
    }
    case 4:
      return {
        bytes: editHeader(rng, b, (h) => {
          const names = Object.keys(h).filter((k) => k !== '__metadata__');
          mutateEntry(rng, h[pick(rng, names)] as Json);
        }),
        kind: 'tensor entry',
      };
    case 5:
      return {
        bytes: editHeader(rng, b, (h) => {
          const meta = h.__metadata__ as Record<string, string>;
          const key =
            CHECKPOINT_METADATA_KEY in meta && rng.int(2) === 0
              ? CHECKPOINT_METADATA_KEY
              : MODEL_METADATA_KEY;
          meta[key] = mutateOurJson(rng, meta[key]);
        }),
        kind: 'metadata JSON',
      };
    case 6: {
      const at = rng.int(2) === 0 ? inHeader() : anywhere();
      const ins = Array.from({ length: 1 + rng.int(16) }, () =>
        rng.int(2) === 0 ? pick(rng, SPECIAL_BYTES) : rng.int(256),
      );
      return { bytes: new Uint8Array([...b.subarray(0, at), ...ins, ...b.subarray(at)]), kind: 'insertion' };
    }
    case 7: {
      const at = anywhere();
      const len = 1 + rng.int(32);
      return { bytes: new Uint8Array([...b.subarray(0, at), ...b.subarray(at + len)]), kind: 'deletion' };
    }
    case 8: {
      // A duplicate key is invisible to JSON.parse; splice one in textually.
      const text = new TextDecoder().decode(b.subarray(8, 8 + n)).trimEnd();
      const m = /"(layers\.\d+\.(?:weight|bias)|optim\.\w+)":\{[^}]*\}/.exec(text);
      const dup = m === null ? '"__metadata__":{}' : m[0];
      return { bytes: build(`{${dup},${text.slice(1)}`, b.subarray(8 + n)), kind: 'duplicate key' };
    }
    default: {
      // Rewrite one number token anywhere in the header, metadata strings included.
      const text = new TextDecoder().decode(b.subarray(8, 8 + n));
      const tokens = [...text.matchAll(/-?\d+(?:\.\d+)?(?:e[+-]?\d+)?/g)];
      const t = pick(rng, tokens);
      const replacement = String(pick(rng, [...SPECIAL_NUMBERS, '1e400', '-0', '00', '1.', '0x10']));
      const edited = text.slice(0, t.index) + replacement + text.slice(t.index + t[0].length);
      return { bytes: build(edited, b.subarray(8 + n)), kind: 'number token' };
    }
  }
}

interface Stats {
  cases: number;
  accepted: number;
  rejected: number;
  maxMs: number;
  maxGrowth: number;
  byKind: Record<string, [number, number]>;
  escaped: string[];
}

function fuzz(name: string, base: Uint8Array, load: (bytes: Uint8Array) => void, seed: number): Stats {
  const rng = new Rng(seed);
  const stats: Stats = {
    cases: 0,
    accepted: 0,
    rejected: 0,
    maxMs: 0,
    maxGrowth: 0,
    byKind: {},
    escaped: [],
  };
  for (let i = 0; i < CASES_PER_FILE; i++) {
    const { bytes, kind } = mutate(rng, base);
    const counts = (stats.byKind[kind] ??= [0, 0]);
    const before = process.memoryUsage().arrayBuffers;
    const t0 = performance.now();
    let accepted = false;
    try {
      load(bytes);
      accepted = true;
    } catch (e) {
      if (!(e instanceof ModelFormatError)) {
        stats.escaped.push(
          `${name} case ${i} (${kind}): ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`,
        );
      }
    }
    stats.maxMs = Math.max(stats.maxMs, performance.now() - t0);
    stats.maxGrowth = Math.max(stats.maxGrowth, process.memoryUsage().arrayBuffers - before);
    stats.cases++;
    if (accepted) stats.accepted++;
    else stats.rejected++;
    counts[accepted ? 0 : 1]++;
  }
  console.log(
    `${name}: ${stats.cases} mutants, ${stats.accepted} loaded, ${stats.rejected} rejected, ` +
      `max ${stats.maxMs.toFixed(1)} ms, max arrayBuffers growth ${stats.maxGrowth} B\n` +
      Object.entries(stats.byKind)
        .map(([k, [a, r]]) => `  ${k}: ${a} loaded, ${r} rejected`)
        .join('\n'),
  );
  return stats;
}

function check(stats: Stats): void {
  expect(stats.escaped.slice(0, 10)).toEqual([]);
  expect(stats.cases).toBe(CASES_PER_FILE);
  expect(stats.maxMs).toBeLessThan(MAX_MS_PER_CASE);
  expect(stats.maxGrowth).toBeLessThan(MAX_ARRAY_BUFFER_GROWTH);
  // Both outcomes must occur, or the mutator is not exercising the validator.
  expect(stats.accepted).toBeGreaterThan(CASES_PER_FILE / 20);
  expect(stats.rejected).toBeGreaterThan(CASES_PER_FILE / 2);
}

describe('fuzzed model files', () => {
  it(`loads or rejects ${CASES_PER_FILE} mutants of a model file with ModelFormatError`, () => {
    const base = saveModel(makeModel(11));
    const stats = fuzz(
      'model',
      base,
      (bytes) => {
        const model = loadModel(bytes, 'fuzz.safetensors');
        // Whatever loads must survive its own round trip.
        expect(loadModel(saveModel(model), 'again.safetensors')).toEqual(model);
      },
      1234,
    );
    check(stats);
  });

  it(`loads or rejects ${CASES_PER_FILE} mutants of a checkpoint, as checkpoint and as model`, () => {
    const base = saveCheckpoint(makeCheckpoint(12));
    const stats = fuzz(
      'checkpoint',
      base,
      (bytes) => {
        let modelError: unknown = null;
        try {
          loadModel(bytes, 'fuzz.safetensors');
        } catch (e) {
          if (!(e instanceof ModelFormatError)) throw e;
          modelError = e;
        }
        const ckpt = loadCheckpoint(bytes, 'fuzz.safetensors');
        // A valid checkpoint is always a valid model file.
        expect(modelError).toBeNull();
        expect(loadCheckpoint(saveCheckpoint(ckpt), 'again.safetensors')).toEqual(ckpt);
      },
      5678,
    );
    check(stats);
  });
});
