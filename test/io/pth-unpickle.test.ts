// Hostile pickles against the restricted unpickler, assembled byte by byte (no torch needed).
// Each goes inside a well-formed .pth archive, so it meets the reader's real allow-list; each must
// be refused with PickleRefusedError and a one-line message naming the global or opcode, before
// anything is called. The plain-value opcodes are checked against Python's encodings.

import { describe, expect, it } from 'vitest';
import { ModelFormatError, PickleRefusedError } from '../../src/errors.js';
import { parseStateDict } from '../../src/io/state-dict.js';
import { PyTuple, unpickle } from '../../src/io/unpickle.js';
import { pk, pthWith, u } from './pth-helpers.js';

const PROTO2 = [0x80, 2] as const;
const BINUNICODE = (s: string) => pk('X', s.length, 0, 0, 0, s);

function refusal(pickle: Uint8Array): string {
  let caught: unknown;
  try {
    parseStateDict(pthWith(pickle), 'hostile.pth');
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(PickleRefusedError);
  expect((caught as Error).name).toBe('PickleRefusedError');
  const message = (caught as Error).message;
  expect(message).not.toContain('\n');
  expect(message.startsWith('hostile.pth: refused to unpickle ')).toBe(true);
  return message;
}

describe('restricted unpickler refuses', () => {
  const reduceGlobals: [string, string][] = [
    ['posix', 'system'],
    ['os', 'system'],
    ['nt', 'system'],
    ['builtins', 'eval'],
    ['builtins', 'exec'],
    ['__builtin__', 'eval'],
    ['subprocess', 'Popen'],
    ['torch', 'load'],
    ['torch.nn.modules.conv', 'Conv2d'],
    ['collections', 'defaultdict'],
  ];
  it.each(reduceGlobals)('GLOBAL %s.%s + REDUCE', (module, name) => {
    const pickle = pk(...PROTO2, 'c', `${module}\n${name}\n`, BINUNICODE('touch /tmp/pwned'), 0x85, 'R', '.');
    expect(refusal(pickle)).toContain(`global ${module}.${name}`);
  });

  it.each(reduceGlobals)('STACK_GLOBAL %s.%s (protocol 4, memoised)', (module, name) => {
    const pickle = pk(0x80, 4, u(module), 0x94, u(name), 0x94, 0x93, 0x94, u('id'), 0x85, 'R', '.');
    expect(refusal(pickle)).toContain(`global ${module}.${name}`);
  });

  it('a hostile global nested inside an otherwise valid state dict', () => {
    // OrderedDict(); d['w'] = posix.system('id')
    const pickle = pk(...PROTO2, 'c', 'collections\nOrderedDict\n', ')', 'R', BINUNICODE('w'));
    const evil = pk('c', 'posix\nsystem\n', BINUNICODE('id'), 0x85, 'R', 's', '.');
    expect(refusal(pk(...pickle, ...evil))).toContain('global posix.system');
  });

  it('STACK_GLOBAL over values that are not strings', () => {
    expect(refusal(pk(...PROTO2, 'K', 1, 'K', 2, 0x93, '.'))).toContain(
      'STACK_GLOBAL over a number and a number',
    );
  });

  it('REDUCE of an allowed global that is not callable (a storage class)', () => {
    const pickle = pk(...PROTO2, 'c', 'torch\nFloatStorage\n', ')', 'R', '.');
    expect(refusal(pickle)).toContain('call to torch.FloatStorage');
  });

  it('REDUCE of something that is not a global', () => {
    expect(refusal(pk(...PROTO2, BINUNICODE('os.system'), ')', 'R', '.'))).toContain('call to a non-global');
  });

  it('BUILD on an object no allowed global made (__setstate__ injection)', () => {
    expect(refusal(pk(...PROTO2, '}', '}', 'b', '.'))).toContain('BUILD on an object');
  });

  it.each([
    ['INST', pk(...PROTO2, '(', 'i', 'os\nsystem\n', '.')],
    ['OBJ', pk(...PROTO2, '(', 'c', 'collections\nOrderedDict\n', 'o', '.')],
    ['NEWOBJ', pk(...PROTO2, 'c', 'collections\nOrderedDict\n', ')', 0x81, '.')],
    ['NEWOBJ_EX', pk(0x80, 4, u('collections'), u('OrderedDict'), 0x93, ')', '}', 0x92, '.')],
    ['EXT1', pk(...PROTO2, 0x82, 1, '.')],
    ['PERSID', pk(...PROTO2, 'P', '0\n', '.')],
    ['STRING', pk('S', "'x'\n", '.')],
    ['LIST', pk('(', 'l', '.')],
    ['DICT', pk('(', 'd', '.')],
    ['GET', pk('g', '0\n', '.')],
  ])('opcode %s', (name, pickle) => {
    expect(refusal(pickle)).toMatch(new RegExp(`opcode ${name} \\(0x[0-9a-f]{2}\\) at byte \\d+`));
  });

  it('an unknown opcode, naming its byte value and position', () => {
    expect(refusal(pk(...PROTO2, 0xff, '.'))).toContain('unknown opcode 0xff at byte 2');
    expect(refusal(pk(...PROTO2, 0x00, '.'))).toContain('unknown opcode 0x00 at byte 2');
  });

  it('a persistent id that is not a storage record', () => {
    const pickle = pk(...PROTO2, BINUNICODE('../../etc/passwd'), 'Q', '.');
    let caught: unknown;
    try {
      parseStateDict(pthWith(pickle), 'pid.pth');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ModelFormatError);
    expect((caught as Error).message).toMatch(/persistent id is not \('storage'/);
  });
});

describe('restricted unpickler reads plain values', () => {
  const read = (...parts: (number | string | Uint8Array)[]) =>
    unpickle(pk(...PROTO2, ...parts, '.'), 'v.pkl', { globals: new Map() });

  it('ints, floats, strings, bools, None, bytes, containers', () => {
    expect(read('J', 0xfe, 0xff, 0xff, 0xff)).toBe(-2);
    expect(read(0x8a, 2, 0x00, 0x80)).toBe(-32768);
    expect(read(0x8a, 9, 1, 0, 0, 0, 0, 0, 0, 0, 1)).toBe(2n ** 64n + 1n);
    expect(read(0x8a, 0)).toBe(0);
    expect(read('G', 0x3f, 0xf8, 0, 0, 0, 0, 0, 0)).toBe(1.5);
    expect(read(u('κ'))).toBe('κ');
    expect(read('C', 2, 7, 8)).toEqual(Uint8Array.from([7, 8]));
    expect(read(0x88, 0x89, 'N', 0x87)).toEqual(new PyTuple([true, false, null]));
    expect(read(']', '(', 'K', 1, 'K', 2, 'e', 'K', 3, 'a')).toEqual([1, 2, 3]);
    expect(read('}', 'q', 0, 'K', 1, 'h', 0, 's')).toBeInstanceOf(Map);
  });

  it('fails, without refusing, on truncated or malformed pickles', () => {
    const cases = [
      pk(...PROTO2, 'X', 9, 0, 0, 0, 'ab'),
      pk(...PROTO2),
      pk(...PROTO2, 'h', 5, '.'),
      pk(...PROTO2, 't', '.'),
      pk(...PROTO2, 's', '.'),
    ];
    for (const bytes of cases) {
      let caught: unknown;
      try {
        unpickle(bytes, 'bad.pkl', { globals: new Map() });
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(ModelFormatError);
      expect(caught).not.toBeInstanceOf(PickleRefusedError);
      expect((caught as Error).message).toMatch(/^bad\.pkl: pickle /);
    }
  });
});
