// Reading `torch.save(model.state_dict())` files: the zip container that PyTorch has written
// since 1.6, with a pickle that describes the tensors and one zip entry per storage.
//
//   <top>/data.pkl      the pickle: OrderedDict{name: _rebuild_tensor_v2(storage, offset, size,
//                       stride, requires_grad, hooks)}, where each storage is a persistent id
//                       ('storage', torch.<Type>Storage, key, location, numel)
//   <top>/data/<key>    the storage's elements, raw, in <top>/byteorder (little when absent)
//   <top>/version       the format version; <top> is the archive's name and varies
//
// The pickle goes through the restricted unpickler with only the globals above allowed. Tensor
// data stays in the file's buffer where it can: a contiguous, aligned, little-endian tensor of a
// dtype the engine uses as is becomes a typed-array view of it. Views with other strides, storage
// offsets that break alignment, big-endian files and F16/BF16/F64 (widened to F32) are copied.

import { ModelFormatError } from '../errors.js';
import type { Dtype, TensorData } from './safetensors.js';
import { toEngineTensor, type StateDict } from './state-dict-tensor.js';
import { GlobalRef, PyTuple, unpickle, type AllowedGlobal } from './unpickle.js';
import { readZipDirectory, readZipEntry, type ZipEntry } from './zip.js';

const STORAGE_DTYPES: Record<string, Dtype> = {
  FloatStorage: 'F32',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  DoubleStorage: 'F64',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

const ELEMENT_BYTES: Partial<Record<Dtype, number>> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  F64: 8,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

type ArrayCtor = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => TensorData;
const ARRAYS: Record<string, ArrayCtor> = {
  F32: Float32Array,
  F16: Uint16Array,
  BF16: Uint16Array,
  F64: Float64Array,
  I64: BigInt64Array,
  I32: Int32Array,
  I16: Int16Array,
  I8: Int8Array,
  U8: Uint8Array,
  BOOL: Uint8Array,
};

const MAX_RANK = 32;

/** A storage named by a persistent id: its records are read after unpickling. */
class StorageRef {
  constructor(
    readonly dtype: Dtype,
    readonly key: string,
    readonly numel: number,
  ) {}
}

/** What `_rebuild_tensor_v2` returns here: a description, materialised once the pickle is read. */
class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

/** True when the bytes open like a pre-1.6 torch.save file (a bare pickle, no zip). */
export function isLegacyTorchFile(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x80 && bytes[1] >= 2 && bytes[1] <= 5;
}

/** Parses a .pth zip archive held in `bytes` into a state dict. */
export function readPth(bytes: Uint8Array, fileName: string): StateDict {
  const fail = (message: string): never => {
    throw new ModelFormatError(`${fileName}: ${message}`, fileName);
  };
  const entries = readZipDirectory(bytes, fileName);
  const top = findTop(entries, fail);
  const byteorder = entries.get(`${top}/byteorder`);
  const order = byteorder
    ? new TextDecoder().decode(readZipEntry(bytes, byteorder, fileName, true)).trim()
    : 'little';
  if (order !== 'little' && order !== 'big') fail(`${top}/byteorder says "${order}", not little or big`);

  const pickle = readZipEntry(bytes, entries.get(`${top}/data.pkl`) as ZipEntry, fileName, true);
  const root = unpickle(pickle, fileName, {
    globals: torchGlobals(fail),
    persistentLoad: (pid) => storageRef(pid, fail),
  });
  if (!(root instanceof Map)) {
    return fail(`the pickle holds a ${describe(root)}, not a dict of tensors; save model.state_dict()`);
  }

  const records = new Map<string, Uint8Array>();
  const record = (s: StorageRef): Uint8Array => {
    let r = records.get(s.key);
    if (!r) {
      const e = entries.get(`${top}/data/${s.key}`);
      if (!e) return fail(`storage record ${top}/data/${s.key} is missing (truncated or damaged archive)`);
      r = readZipEntry(bytes, e, fileName);
      records.set(s.key, r);
    }
    // Checked per reference: two persistent ids may name one record with different sizes.
    if (r.length !== s.numel * (ELEMENT_BYTES[s.dtype] as number)) {
      fail(`storage record ${top}/data/${s.key} holds ${r.length} bytes, not ${s.numel} ${s.dtype} elements`);
    }
    return r;
  };
  const out: StateDict = new Map();
  for (const [name, value] of root) {
    if (typeof name !== 'string') fail(`a state-dict key is a ${describe(name)}, not a string`);
    if (!(value instanceof TensorRef)) {
      fail(`"${String(name)}" holds a ${describe(value)}, not a tensor; save model.state_dict()`);
    }
    const t = value as TensorRef;
    const data = materialise(t, record(t.storage), order === 'big', (m) => fail(`tensor "${name}": ${m}`));
    out.set(name as string, toEngineTensor(t.storage.dtype, t.shape, data));
  }
  return out;
}

/** The archive's top folder: the one holding data.pkl. */
function findTop(entries: Map<string, ZipEntry>, fail: (m: string) => never): string {
  const pkls = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkls.length !== 1) {
    fail(
      pkls.length === 0
        ? 'a zip archive without a */data.pkl entry is not a torch.save file'
        : `the archive holds ${pkls.length} */data.pkl entries; expected one`,
    );
  }
  const top = pkls[0].slice(0, -'/data.pkl'.length);
  if (entries.has(`${top}/constants.pkl`) || [...entries.keys()].some((n) => n.startsWith(`${top}/code/`))) {
    fail('this is a TorchScript archive (torch.jit.save); save model.state_dict() with torch.save instead');
  }
  return top;
}

function torchGlobals(fail: (m: string) => never): Map<string, AllowedGlobal> {
  const globals = new Map<string, AllowedGlobal>();
  globals.set('collections OrderedDict', {
    name: 'collections.OrderedDict',
    call: (args) => {
      if (args.length !== 0) fail('OrderedDict is called with arguments; a state dict pickles it empty');
      return new Map();
    },
    // A state dict carries `_metadata` (per-module versions) as instance state: not needed.
    build: (obj) => obj,
  });
  globals.set('torch._utils _rebuild_tensor_v2', {
    name: 'torch._utils._rebuild_tensor_v2',
    call: (args) => rebuildTensor(args, fail),
  });
  globals.set('torch._utils _rebuild_parameter', {
    name: 'torch._utils._rebuild_parameter',
    call: (args) => {
      if (!(args[0] instanceof TensorRef)) fail('_rebuild_parameter over something that is not a tensor');
      return args[0];
    },
  });
  for (const type of Object.keys(STORAGE_DTYPES)) {
    // Storage classes appear only inside persistent ids; they have no `call`, so REDUCE is refused.
    globals.set(`torch ${type}`, { name: `torch.${type}` });
  }
  return globals;
}

function rebuildTensor(args: unknown[], fail: (m: string) => never): TensorRef {
  const [storage, offset, size, stride, , hooks] = args;
  if (args.length < 6 || args.length > 7 || !(storage instanceof StorageRef)) {
    fail('_rebuild_tensor_v2 is called with arguments other than (storage, offset, size, stride, ...)');
  }
  if (!(hooks instanceof Map) || hooks.size !== 0) fail('a tensor with backward hooks cannot be loaded');
  const shape = intTuple(size, 'size', fail);
  const strides = intTuple(stride, 'stride', fail);
  if (shape.length !== strides.length) fail(`size has ${shape.length} dims but stride has ${strides.length}`);
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
    fail(`storage offset ${String(offset)} is not a non-negative integer`);
  }
  return new TensorRef(storage as StorageRef, offset as number, shape, strides);
}

function intTuple(v: unknown, what: string, fail: (m: string) => never): number[] {
  if (!(v instanceof PyTuple) || v.items.length > MAX_RANK)
    fail(`${what} is not a tuple of at most ${MAX_RANK}`);
  const items = (v as PyTuple).items;
  if (!items.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    fail(`${what} holds something other than non-negative integers`);
  }
  return items as number[];
}

function storageRef(pid: unknown, fail: (m: string) => never): StorageRef {
  const items = pid instanceof PyTuple ? pid.items : [];
  const [tag, type, key, , numel] = items;
  const dtype = type instanceof GlobalRef ? STORAGE_DTYPES[type.def.name.slice('torch.'.length)] : undefined;
  if (
    items.length !== 5 ||
    tag !== 'storage' ||
    !dtype ||
    typeof key !== 'string' ||
    !/^[\w.-]+$/.test(key) ||
    typeof numel !== 'number' ||
    !Number.isSafeInteger(numel) ||
    numel < 0
  ) {
    return fail("a persistent id is not ('storage', <Type>Storage, key, location, numel)");
  }
  return new StorageRef(dtype, key, numel);
}

/** The tensor's elements, row-major, in a typed array of the storage's dtype. */
function materialise(
  t: TensorRef,
  record: Uint8Array,
  bigEndian: boolean,
  fail: (m: string) => never,
): TensorData {
  const size = ELEMENT_BYTES[t.storage.dtype] as number;
  const ctor = ARRAYS[t.storage.dtype];
  const numel = t.shape.reduce((a, b) => a * b, 1);
  if (numel === 0) return new ctor(new ArrayBuffer(0), 0, 0);
  let last = t.offset;
  for (let d = 0; d < t.shape.length; d++) last += (t.shape[d] - 1) * t.stride[d];
  if (last >= t.storage.numel) {
    fail(
      `its view (offset ${t.offset}, size [${t.shape}], stride [${t.stride}]) reaches past its storage of ${t.storage.numel} elements`,
    );
  }
  // Distinct in-range indices cannot outnumber the storage: more elements means an expanded view.
  if (numel > t.storage.numel)
    fail('an expanded view (stride 0) cannot be loaded; call .contiguous() before saving');
  const start = record.byteOffset + t.offset * size;
  if (isContiguous(t.shape, t.stride) && !bigEndian && start % size === 0) {
    return new ctor(record.buffer, start, numel);
  }
  const out = new Uint8Array(numel * size);
  if (isContiguous(t.shape, t.stride)) out.set(record.subarray(t.offset * size, (t.offset + numel) * size));
  else gatherBytes(record, out, t, size);
  if (bigEndian) swapBytes(out, size);
  return new ctor(out.buffer, 0, numel);
}

function isContiguous(shape: number[], stride: number[]): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expected) return false;
    expected *= shape[d];
  }
  return true;
}

/** Copies a strided view into `out`, row-major; runs along a unit-stride last dim in one set(). */
function gatherBytes(src: Uint8Array, out: Uint8Array, t: TensorRef, size: number): void {
  const rank = t.shape.length;
  const inner = rank === 0 ? 1 : t.shape[rank - 1];
  const innerStride = rank === 0 ? 0 : t.stride[rank - 1];
  const outer = rank === 0 ? 1 : out.length / size / inner;
  const index = new Array<number>(Math.max(rank - 1, 0)).fill(0);
  let base = t.offset;
  for (let o = 0, w = 0; o < outer; o++) {
    if (innerStride === 1) {
      out.set(src.subarray(base * size, (base + inner) * size), w);
      w += inner * size;
    } else {
      for (let i = 0; i < inner; i++, w += size) {
        const from = (base + i * innerStride) * size;
        out.set(src.subarray(from, from + size), w);
      }
    }
    // Odometer over the outer dims, keeping `base` equal to offset + sum(index * stride).
    for (let d = rank - 2; d >= 0; d--) {
      base += t.stride[d];
      if (++index[d] < t.shape[d]) break;
      base -= t.stride[d] * t.shape[d];
      index[d] = 0;
    }
  }
}

function swapBytes(bytes: Uint8Array, size: number): void {
  for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse();
}

function describe(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof Map) return 'dict';
  if (v instanceof PyTuple) return 'tuple';
  if (Array.isArray(v)) return 'list';
  if (v instanceof StorageRef) return 'bare storage';
  return typeof v;
}
