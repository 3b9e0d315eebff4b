// A restricted unpickler: it reads the subset of Python's pickle format (protocols 2 to 5) that a
// PyTorch state dict is made of, and nothing more. A pickle is a program for a stack machine whose
// GLOBAL and REDUCE opcodes import and call arbitrary Python callables; here nothing is ever
// imported or evaluated. A GLOBAL resolves only through the caller's table of allowed names, whose
// entries are plain TypeScript functions over already-decoded values; every other global, and
// every opcode outside the list below, is refused with PickleRefusedError naming it.
//
// Python values map to: None -> null, bool -> boolean, int -> number (bigint past 2^53),
// float -> number, str -> string, bytes -> Uint8Array, list -> unknown[], tuple -> PyTuple,
// dict -> Map (insertion order kept, as OrderedDict's).

import { ModelFormatError, PickleRefusedError } from '../errors.js';

/** A Python tuple (kept apart from lists, which are JS arrays). */
export class PyTuple {
  constructor(readonly items: unknown[]) {}
}

/** One allowed global. `call` runs for REDUCE; `build` for BUILD on an object it made. */
export interface AllowedGlobal {
  /** "module.name", for messages. */
  readonly name: string;
  call?(args: unknown[]): unknown;
  build?(obj: unknown, state: unknown): unknown;
}

export interface UnpickleOptions {
  /** Allowed globals keyed "module name" (a space, as the GLOBAL opcode writes them). */
  globals: ReadonlyMap<string, AllowedGlobal>;
  /** Resolves BINPERSID's id (torch's storage records); absent: BINPERSID is refused. */
  persistentLoad?(pid: unknown): unknown;
}

/** A global pushed by GLOBAL/STACK_GLOBAL; callable through REDUCE only if allowed. */
export class GlobalRef {
  constructor(readonly def: AllowedGlobal) {}
}

const NOT_LITERAL = Symbol('not a literal');

// Opcodes that pickle defines but a state dict never needs: named in the refusal.
const REFUSED: Record<number, string> = {
  0x69: 'INST',
  0x6f: 'OBJ',
  0x81: 'NEWOBJ',
  0x92: 'NEWOBJ_EX',
  0x50: 'PERSID',
  0x49: 'INT',
  0x4c: 'LONG',
  0x46: 'FLOAT',
  0x53: 'STRING',
  0x54: 'BINSTRING',
  0x55: 'SHORT_BINSTRING',
  0x56: 'UNICODE',
  0x8b: 'LONG4',
  0x82: 'EXT1',
  0x83: 'EXT2',
  0x84: 'EXT4',
  0x67: 'GET',
  0x70: 'PUT',
  0x64: 'DICT',
  0x6c: 'LIST',
  0x8f: 'EMPTY_SET',
  0x90: 'ADDITEMS',
  0x91: 'FROZENSET',
  0x96: 'BYTEARRAY8',
  0x97: 'NEXT_BUFFER',
  0x98: 'READONLY_BUFFER',
};

/** Reads a pickle and returns the value its STOP leaves on top of the stack. */
export function unpickle(bytes: Uint8Array, fileName: string, options: UnpickleOptions): unknown {
  return new Machine(bytes, fileName, options).run();
}

class Machine {
  private pos = 0;
  private stack: unknown[] = [];
  private marks: number[] = [];
  private readonly memo = new Map<number, unknown>();
  private readonly view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly fileName: string,
    private readonly options: UnpickleOptions,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private fail(message: string): never {
    throw new ModelFormatError(`${this.fileName}: pickle ${message}`, this.fileName);
  }

  private refuse(message: string): never {
    throw new PickleRefusedError(
      `${this.fileName}: refused to unpickle ${message}; a state dict needs only tensors in an OrderedDict`,
      this.fileName,
    );
  }

  private take(n: number): number {
    const at = this.pos;
    if (n > this.bytes.length - at) this.fail(`ends inside an argument at byte ${at} (truncated file?)`);
    this.pos += n;
    return at;
  }

  private u8 = () => this.bytes[this.take(1)];
  private u16 = () => this.view.getUint16(this.take(2), true);
  private u32 = () => this.view.getUint32(this.take(4), true);
  private u64 = () => Number(this.view.getBigUint64(this.take(8), true));
  private slice = (n: number) => this.bytes.subarray(this.take(n), this.pos);
  private utf8 = (n: number) => new TextDecoder('utf-8').decode(this.slice(n));

  private line(): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0) this.fail(`GLOBAL at byte ${this.pos} has no newline (truncated file?)`);
    const s = new TextDecoder('latin1').decode(this.bytes.subarray(this.pos, end));
    this.pos = end + 1;
    return s;
  }

  private pop(): unknown {
    if (this.stack.length === 0 || this.stack.length <= (this.marks.at(-1) ?? -1)) {
      this.fail(`pops an empty stack at byte ${this.pos - 1} (corrupt file?)`);
    }
    return this.stack.pop();
  }

  private top(): unknown {
    if (this.stack.length === 0) this.fail(`reads an empty stack at byte ${this.pos - 1} (corrupt file?)`);
    return this.stack[this.stack.length - 1];
  }

  private popMark(): unknown[] {
    const m = this.marks.pop();
    if (m === undefined) this.fail(`has no MARK to close at byte ${this.pos - 1} (corrupt file?)`);
    return this.stack.splice(m);
  }

  private global(module: string, name: string): GlobalRef {
    const def = this.options.globals.get(`${module} ${name}`);
    if (!def) this.refuse(`global ${module}.${name}`);
    return new GlobalRef(def);
  }

  private reduce(): unknown {
    const args = this.pop();
    const fn = this.pop();
    if (!(fn instanceof GlobalRef) || !fn.def.call) {
      this.refuse(`a call to ${fn instanceof GlobalRef ? fn.def.name : 'a non-global'} (REDUCE)`);
    }
    if (!(args instanceof PyTuple)) this.fail(`REDUCE arguments are not a tuple (corrupt file?)`);
    return fn.def.call(args.items);
  }

  private build(): unknown {
    const state = this.pop();
    const obj = this.pop();
    const maker = this.madeBy.get(obj as object);
    if (!maker?.build)
      this.refuse(`BUILD on an object that ${maker ? maker.name : 'no allowed global'} made`);
    return maker.build(obj, state);
  }

  private readonly madeBy = new WeakMap<object, AllowedGlobal>();

  private setItems(items: unknown[]): void {
    const dict = this.top();
    if (!(dict instanceof Map)) this.fail(`SETITEM(S) on a ${typeName(dict)} (corrupt file?)`);
    if (items.length % 2 !== 0) this.fail('SETITEMS with an odd number of items (corrupt file?)');
    for (let i = 0; i < items.length; i += 2) dict.set(items[i], items[i + 1]);
  }

  private append(items: unknown[]): void {
    const list = this.top();
    if (!Array.isArray(list)) this.fail(`APPEND(S) on a ${typeName(list)} (corrupt file?)`);
    for (const item of items) list.push(item);
  }

  private long1(): number | bigint {
    const b = this.slice(this.u8());
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b.length > 0 && b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  run(): unknown {
    for (;;) {
      const at = this.pos;
      if (at >= this.bytes.length) this.fail(`ends at byte ${at} without STOP (truncated file?)`);
      const op = this.u8();
      if (op === 0x2e) return this.pop(); // STOP
      this.step(op, at);
    }
  }

  private step(op: number, at: number): void {
    if (this.literal(op)) return;
    this.structure(op, at);
  }

  /** Opcodes that push a constant read from the stream; false when `op` is not one. */
  private literal(op: number): boolean {
    const v = this.literalValue(op);
    if (v === NOT_LITERAL) return false;
    this.stack.push(v);
    return true;
  }

  private literalValue(op: number): unknown {
    switch (op) {
      case 0x7d: // EMPTY_DICT
        return new Map();
      case 0x5d: // EMPTY_LIST
        return [];
      case 0x29: // EMPTY_TUPLE
        return new PyTuple([]);
      case 0x4e: // NONE
        return null;
      case 0x88: // NEWTRUE
        return true;
      case 0x89: // NEWFALSE
        return false;
      case 0x4a: // BININT
        return this.view.getInt32(this.take(4), true);
      case 0x4b: // BININT1
        return this.u8();
      case 0x4d: // BININT2
        return this.u16();
      case 0x8a: // LONG1
        return this.long1();
      case 0x47: // BINFLOAT (big-endian)
        return this.view.getFloat64(this.take(8), false);
      case 0x58: // BINUNICODE
        return this.utf8(this.u32());
      case 0x8c: // SHORT_BINUNICODE
        return this.utf8(this.u8());
      case 0x8d: // BINUNICODE8
        return this.utf8(this.u64());
      case 0x43: // SHORT_BINBYTES
        return this.slice(this.u8()).slice();
      case 0x42: // BINBYTES
        return this.slice(this.u32()).slice();
      case 0x8e: // BINBYTES8
        return this.slice(this.u64()).slice();
      default:
        return NOT_LITERAL;
    }
  }

  /** Opcodes that rearrange the stack, the memo and containers, or resolve globals. */
  private structure(op: number, at: number): void {
    const push = (v: unknown) => this.stack.push(v);
    switch (op) {
      case 0x80: // PROTO
        if (this.u8() > 5) this.fail(`protocol above 5 at byte ${at}`);
        return;
      case 0x95: // FRAME: a length hint only; the frame's bytes follow inline.
        this.take(8);
        return;
      case 0x28: // MARK
        this.marks.push(this.stack.length);
        return;
      case 0x74: // TUPLE
        return void push(new PyTuple(this.popMark()));
      case 0x85: // TUPLE1
      case 0x86: // TUPLE2
      case 0x87: {
        // TUPLE3
        const items = Array.from({ length: op - 0x84 }, () => this.pop()).reverse();
        return void push(new PyTuple(items));
      }
      case 0x71: // BINPUT
        return void this.memo.set(this.u8(), this.top());
      case 0x72: // LONG_BINPUT
        return void this.memo.set(this.u32(), this.top());
      case 0x94: // MEMOIZE
        return void this.memo.set(this.memo.size, this.top());
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const key = op === 0x68 ? this.u8() : this.u32();
        if (!this.memo.has(key)) this.fail(`BINGET of memo slot ${key}, never stored (corrupt file?)`);
        return void push(this.memo.get(key));
      }
      case 0x30: // POP
        return void this.pop();
      case 0x31: // POP_MARK
        return void this.popMark();
      case 0x32: // DUP
        return void push(this.top());
      case 0x73: {
        // SETITEM
        const v = this.pop();
        const k = this.pop();
        return this.setItems([k, v]);
      }
      case 0x75: // SETITEMS
        return this.setItems(this.popMark());
      case 0x61: // APPEND
        return this.append([this.pop()]);
      case 0x65: // APPENDS
        return this.append(this.popMark());
      case 0x63: // GLOBAL
        return void push(this.global(this.line(), this.line()));
      case 0x93: {
        // STACK_GLOBAL
        const name = this.pop();
        const module = this.pop();
        if (typeof module !== 'string' || typeof name !== 'string') {
          this.refuse(`STACK_GLOBAL over a ${typeName(module)} and a ${typeName(name)}`);
        }
        return void push(this.global(module, name));
      }
      case 0x51: {
        // BINPERSID
        const pid = this.pop();
        if (!this.options.persistentLoad) this.refuse('a persistent id (BINPERSID)');
        return void push(this.options.persistentLoad(pid));
      }
      case 0x52: {
        // REDUCE
        const fn = this.stack[this.stack.length - 2];
        const made = this.reduce();
        if (fn instanceof GlobalRef && made !== null && typeof made === 'object')
          this.madeBy.set(made, fn.def);
        return void push(made);
      }
      case 0x62: // BUILD
        return void push(this.build());
      default: {
        const hex = `0x${op.toString(16).padStart(2, '0')}`;
        if (REFUSED[op]) this.refuse(`opcode ${REFUSED[op]} (${hex}) at byte ${at}`);
        this.refuse(`unknown opcode ${hex} at byte ${at}`);
      }
    }
  }
}

function typeName(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof Map) return 'dict';
  if (v instanceof PyTuple) return 'tuple';
  if (Array.isArray(v)) return 'list';
  if (v instanceof GlobalRef) return `global ${v.def.name}`;
  return typeof v;
}
