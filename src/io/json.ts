// A strict JSON parser for untrusted file headers. JSON.parse silently keeps the last of two
// equal keys and recurses without a depth limit, so a hostile header could make two readers
// disagree on a tensor's offsets or overflow the stack. This parser rejects duplicate keys
// (compared after unescaping), bounds nesting depth, rejects numbers that overflow to Infinity
// (so everything it returns survives JSON.stringify), and reports the character position.
// Strings and numbers are decoded by JSON.parse on the exact token, so their semantics match.

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

export const DEFAULT_MAX_JSON_DEPTH = 64;

/** Thrown by parseJsonStrict; callers wrap it in the error class that names their file. */
export class JsonSyntaxError extends Error {}

const LITERALS: [string, JsonValue][] = [
  ['true', true],
  ['false', false],
  ['null', null],
];
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Assigns an own enumerable property, even for the key "__proto__" (as JSON.parse does). */
export function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

export function parseJsonStrict(text: string, maxDepth = DEFAULT_MAX_JSON_DEPTH): JsonValue {
  let pos = 0;

  const fail = (what: string): never => {
    throw new JsonSyntaxError(`${what} at character ${pos}`);
  };

  const skipWs = (): void => {
    for (;;) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) pos++;
      else return;
    }
  };

  const parseString = (): string => {
    const start = pos;
    pos++;
    for (;;) {
      if (pos >= text.length) fail('unterminated string');
      const c = text.charCodeAt(pos);
      if (c === 0x22) break;
      if (c < 0x20) fail('control character in string');
      pos += c === 0x5c ? 2 : 1;
    }
    pos++;
    try {
      return JSON.parse(text.slice(start, pos)) as string;
    } catch {
      pos = start;
      return fail('invalid escape in string');
    }
  };

  const parseValue = (depth: number): JsonValue => {
    skipWs();
    const c = text[pos];
    if (c === '{' || c === '[') {
      if (depth >= maxDepth) fail(`nesting deeper than ${maxDepth} levels`);
      return c === '{' ? parseObject(depth + 1) : parseArray(depth + 1);
    }
    if (c === '"') return parseString();
    for (const [word, value] of LITERALS) {
      if (text.startsWith(word, pos)) {
        pos += word.length;
        return value;
      }
    }
    NUMBER.lastIndex = pos;
    const m = NUMBER.exec(text);
    if (m === null)
      return fail(c === undefined ? 'unexpected end of JSON' : `unexpected ${JSON.stringify(c)}`);
    const n = Number(m[0]);
    // 1e400 would parse as Infinity, which JSON cannot write back; -0 would come back as 0.
    if (!Number.isFinite(n)) fail(`number ${m[0]} is out of range`);
    pos += m[0].length;
    return n === 0 ? 0 : n;
  };

  const parseObject = (depth: number): JsonObject => {
    const obj: JsonObject = {};
    const seen = new Set<string>();
    pos++;
    skipWs();
    if (text[pos] === '}') {
      pos++;
      return obj;
    }
    for (;;) {
      skipWs();
      if (text[pos] !== '"') fail('expected a string key');
      const keyPos = pos;
      const key = parseString();
      if (seen.has(key)) {
        pos = keyPos;
        fail(`duplicate key ${JSON.stringify(key)}`);
      }
      seen.add(key);
      skipWs();
      if (text[pos] !== ':') fail('expected ":"');
      pos++;
      setOwn(obj, key, parseValue(depth));
      skipWs();
      if (text[pos] === ',') pos++;
      else if (text[pos] === '}') break;
      else fail('expected "," or "}"');
    }
    pos++;
    return obj;
  };

  const parseArray = (depth: number): JsonValue[] => {
    const arr: JsonValue[] = [];
    pos++;
    skipWs();
    if (text[pos] === ']') {
      pos++;
      return arr;
    }
    for (;;) {
      arr.push(parseValue(depth));
      skipWs();
      if (text[pos] === ',') pos++;
      else if (text[pos] === ']') break;
      else fail('expected "," or "]"');
    }
    pos++;
    return arr;
  };

  const value = parseValue(0);
  skipWs();
  if (pos !== text.length) fail('unexpected data after the JSON value');
  return value;
}
