// The safetensors container (https://huggingface.co/docs/safetensors), pure TypeScript over
// Uint8Array so it runs in Node and in the browser.
//
//   [0, 8)          N, u64 little-endian: the header length in bytes
//   [8, 8+N)        UTF-8 JSON object, starting with "{", optionally padded with spaces:
//                     { "<name>": {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [b, e]},
//                       "__metadata__": {"<key>": "<string value>", ...} }
//   [8+N, end)      the data buffer; offsets are relative to its start, row-major, little-endian.
//
// The tensors must tile the data buffer exactly: sorted by offset, each begins where the previous
// ends, the first at 0 and the last at the end of the file. The decoder treats the file as hostile:
// every length is checked against the bytes actually present before anything is allocated, so a
// corrupted field can never make it allocate more than the file's own size.

import { ConfigError, ModelFormatError, ShapeError } from '../errors.js';
import { isJsonObject, JsonSyntaxError, parseJsonStrict, setOwn, DEFAULT_MAX_JSON_DEPTH } from './json.js';

export type Dtype =
  | 'BOOL'
  | 'U8'
  | 'I8'
  | 'F8_E5M2'
  | 'F8_E4M3'
  | 'I16'
  | 'U16'
  | 'F16'
  | 'BF16'
  | 'I32'
  | 'U32'
  | 'F32'
  | 'F64'
  | 'I64'
  | 'U64';

/** Element storage per dtype. F16, BF16 and F8 tensors hold their raw bit patterns. */
export type TensorData =
  | Uint8Array
  | Int8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

type TensorDataConstructor = {
  new (length: number): TensorData;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): TensorData;
  readonly BYTES_PER_ELEMENT: number;
};

const ARRAY_OF: Record<Dtype, TensorDataConstructor> = {
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
};

export const DTYPES = Object.keys(ARRAY_OF) as Dtype[];

export interface Tensor {
  dtype: Dtype;
  shape: number[];
  /** Row-major elements; length is the product of shape. */
  data: TensorData;
}

export interface Safetensors {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

export interface DecodeOptions {
  /** Largest header accepted, in bytes (the reference implementation's limit is 100 MB). */
  maxHeaderBytes?: number;
  /** Largest tensor rank accepted. */
  maxRank?: number;
  maxJsonDepth?: number;
  /**
   * Copy every tensor out of the input (default false: tensors whose offset suits their element
   * size are views into `bytes`, the others are copied so typed arrays stay aligned).
   */
  copy?: boolean;
}

export const DEFAULT_MAX_HEADER_BYTES = 100_000_000;
export const DEFAULT_MAX_RANK = 32;
const METADATA_KEY = '__metadata__';
const ENTRY_FIELDS = new Set(['dtype', 'shape', 'data_offsets']);

export function isDtype(s: unknown): s is Dtype {
  return typeof s === 'string' && Object.hasOwn(ARRAY_OF, s);
}

export function dtypeSize(dtype: Dtype): number {
  return ARRAY_OF[dtype].BYTES_PER_ELEMENT;
}

// Typed arrays use the host's byte order and the format is little-endian; every host that runs
// WebGPU today is little-endian, so refuse rather than carry an untested byte-swapping path.
function assertLittleEndianHost(): void {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
    throw new ConfigError('safetensors I/O needs a little-endian host');
  }
}

/**
 * Serialises tensors to safetensors bytes. Output is deterministic: tensors are laid out by
 * descending element size, then by name (code-unit order), so every tensor's data is aligned to
 * its element size; the header is padded with spaces to a multiple of 8 bytes. An empty metadata
 * record writes no "__metadata__" key, as the reference writer does for None.
 */
export function encodeSafetensors(
  tensors: Record<string, Tensor>,
  metadata: Record<string, string> = {},
): Uint8Array {
  assertLittleEndianHost();
  const names = Object.keys(tensors);
  for (const name of names) checkTensorForWrite(name, tensors[name]);
  names.sort((a, b) => {
    const bySize = dtypeSize(tensors[b].dtype) - dtypeSize(tensors[a].dtype);
    return bySize !== 0 ? bySize : a < b ? -1 : a > b ? 1 : 0;
  });

  // Built by hand rather than JSON.stringify(object): JS objects list integer-like keys first,
  // which would break both the sort order and determinism.
  const parts: string[] = [];
  const metaKeys = Object.keys(metadata).sort();
  if (metaKeys.length > 0) {
    const entries = metaKeys.map((k) => {
      const v = metadata[k];
      if (typeof v !== 'string') {
        throw new ConfigError(`safetensors metadata value for ${JSON.stringify(k)} must be a string`);
      }
      return `${JSON.stringify(k)}:${JSON.stringify(v)}`;
    });
    parts.push(`"${METADATA_KEY}":{${entries.join(',')}}`);
  }
  let offset = 0;
  for (const name of names) {
    const t = tensors[name];
    const end = offset + t.data.byteLength;
    parts.push(
      `${JSON.stringify(name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const headerLen = Math.ceil(json.length / 8) * 8;
  if (headerLen > DEFAULT_MAX_HEADER_BYTES) {
    throw new ConfigError(
      `safetensors header would be ${headerLen} bytes; readers reject headers over 100 MB`,
    );
  }

  const out = new Uint8Array(8 + headerLen + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let pos = 8 + headerLen;
  for (const name of names) {
    const d = tensors[name].data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), pos);
    pos += d.byteLength;
  }
  return out;
}

function checkTensorForWrite(name: string, t: Tensor): void {
  if (name === METADATA_KEY) throw new ConfigError(`"${METADATA_KEY}" is reserved and cannot name a tensor`);
  if (!isDtype(t.dtype)) {
    throw new ConfigError(
      `tensor "${name}": unknown dtype ${String(t.dtype)}; expected one of ${DTYPES.join(', ')}`,
    );
  }
  if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new ShapeError(`tensor "${name}": shape must be an array of non-negative integers`);
  }
  const numel = t.shape.reduce((a, b) => a * b, 1);
  const ctor = ARRAY_OF[t.dtype];
  if (!(t.data instanceof ctor)) {
    throw new ConfigError(`tensor "${name}": dtype ${t.dtype} needs its data in a ${ctor.name}`);
  }
  if (t.data.length !== numel) {
    throw new ShapeError(
      `tensor "${name}": shape [${t.shape.join(', ')}] has ${numel} elements but data has ${t.data.length}`,
    );
  }
}

interface Entry {
  name: string;
  dtype: Dtype;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Parses and validates safetensors bytes. Every problem with the file throws ModelFormatError
 * naming `fileName`. Returned tensors may be views into `bytes` (see DecodeOptions.copy).
 */
export function decodeSafetensors(
  bytes: Uint8Array | ArrayBufferLike,
  fileName: string,
  options: DecodeOptions = {},
): Safetensors {
  assertLittleEndianHost();
  const maxHeaderBytes = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  const maxRank = options.maxRank ?? DEFAULT_MAX_RANK;
  const fail = (message: string): never => {
    throw new ModelFormatError(`${fileName}: ${message}`, fileName);
  };

  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (u8.length < 8) {
    fail(`file is ${u8.length} bytes; a safetensors file starts with an 8-byte header length (truncated?)`);
  }
  const declared = new DataView(u8.buffer, u8.byteOffset, 8).getBigUint64(0, true);
  // Number() rounds above 2^53, but such values exceed any real limit or file size either way.
  const headerLen = Number(declared);
  if (headerLen > maxHeaderBytes) {
    fail(`declared header length ${declared} bytes exceeds the ${maxHeaderBytes}-byte limit (corrupt file?)`);
  }
  if (headerLen > u8.length - 8) {
    fail(
      `declared header length ${declared} bytes but only ${u8.length - 8} bytes follow the length field (truncated?)`,
    );
  }
  if (headerLen < 2 || u8[8] !== 0x7b) fail('header must be a JSON object starting with "{"');

  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(u8.subarray(8, 8 + headerLen));
  } catch {
    fail('header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = parseJsonStrict(text, options.maxJsonDepth ?? DEFAULT_MAX_JSON_DEPTH);
  } catch (e) {
    if (!(e instanceof JsonSyntaxError)) throw e;
    fail(`header is not valid JSON: ${e.message}`);
  }
  if (!isJsonObject(header)) return fail('header must be a JSON object');

  const dataStart = 8 + headerLen;
  const bufferLen = u8.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      if (!isJsonObject(raw)) fail(`"${METADATA_KEY}" must be an object of strings`);
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string')
          fail(`metadata value for ${JSON.stringify(k)} must be a string, got ${typeof v}`);
        setOwn(metadata, k, v as string);
      }
    } else {
      entries.push(parseEntry(name, raw, bufferLen, maxRank, fail));
    }
  }

  // Tiling check: sorted by (begin, end), each tensor must start where the previous one ended.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    if (e.begin < expected) {
      fail(`tensors "${entries[i - 1].name}" and "${e.name}" overlap in the data buffer (offset ${e.begin})`);
    }
    if (e.begin > expected) {
      fail(
        `${e.begin - expected} bytes at data offset ${expected}, before tensor "${e.name}", belong to no tensor`,
      );
    }
    expected = e.end;
  }
  if (expected !== bufferLen) {
    fail(
      `tensors cover ${expected} bytes but the data buffer holds ${bufferLen}; ` +
        `${bufferLen - expected} trailing bytes belong to no tensor`,
    );
  }

  const tensors: Record<string, Tensor> = {};
  for (const e of entries) {
    const ctor = ARRAY_OF[e.dtype];
    const start = u8.byteOffset + dataStart + e.begin;
    const length = (e.end - e.begin) / ctor.BYTES_PER_ELEMENT;
    // A typed array view must start at a multiple of its element size; copy when it would not.
    const data =
      options.copy === true || start % ctor.BYTES_PER_ELEMENT !== 0
        ? // Uint8Array's slice, never a Node Buffer's (whose slice is a view of the whole file).
          new ctor(
            Uint8Array.prototype.slice.call(u8, dataStart + e.begin, dataStart + e.end).buffer,
            0,
            length,
          )
        : new ctor(u8.buffer, start, length);
    setOwn(tensors, e.name, { dtype: e.dtype, shape: e.shape, data });
  }
  return { tensors, metadata };
}

function parseEntry(
  name: string,
  raw: unknown,
  bufferLen: number,
  maxRank: number,
  fail: (message: string) => never,
): Entry {
  const where = `tensor ${JSON.stringify(name)}`;
  if (!isJsonObject(raw)) return fail(`${where}: entry must be an object with dtype, shape and data_offsets`);
  for (const k of Object.keys(raw)) {
    if (!ENTRY_FIELDS.has(k)) fail(`${where}: unexpected field ${JSON.stringify(k)}`);
  }
  const { dtype, shape, data_offsets: offsets } = raw;
  if (!isDtype(dtype))
    return fail(`${where}: unknown dtype ${JSON.stringify(dtype)}; expected one of ${DTYPES.join(', ')}`);
  if (!Array.isArray(shape)) return fail(`${where}: shape must be an array`);
  if (shape.length > maxRank) fail(`${where}: rank ${shape.length} exceeds the limit of ${maxRank}`);
  const dims: number[] = [];
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      fail(`${where}: shape entries must be non-negative integers, got ${JSON.stringify(d)}`);
    }
    dims.push(d as number);
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0)
  ) {
    return fail(`${where}: data_offsets must be two non-negative integers [begin, end]`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end || end > bufferLen) {
    fail(`${where}: data_offsets [${begin}, ${end}] lie outside the ${bufferLen}-byte data buffer`);
  }
  // The element count is bounded by the bytes present, so a hostile shape is caught before its
  // product can leave the safe-integer range.
  const size = dtypeSize(dtype);
  const maxElements = Math.floor(bufferLen / size);
  let numel = dims.includes(0) ? 0 : 1;
  for (const d of dims) {
    if (numel === 0) break;
    numel *= d;
    if (numel > maxElements) {
      fail(
        `${where}: shape [${dims.join(', ')}] of ${dtype} needs more bytes than the ${bufferLen}-byte data buffer`,
      );
    }
  }
  if (end - begin !== numel * size) {
    fail(
      `${where}: data_offsets [${begin}, ${end}] span ${end - begin} bytes but ${dtype} ` +
        `shape [${dims.join(', ')}] needs ${numel * size}`,
    );
  }
  return { name, dtype, shape: dims, begin, end };
}
