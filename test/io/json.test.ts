import { describe, expect, it } from 'vitest';
import { JsonSyntaxError, parseJsonStrict } from '../../src/io/json.js';

describe('parseJsonStrict', () => {
  it.each([
    '{}',
    '[]',
    ' {"a": [1, -2.5e3, true, false, null, "x\\n\\u00e9\\"", {"b": {}}]} ',
    '"\\ud83d\\ude00"',
    '0',
    '{"0": 1, "b": 2, "a": 3}',
  ])('agrees with JSON.parse on %s', (text) => {
    expect(parseJsonStrict(text)).toEqual(JSON.parse(text));
  });

  it.each([
    ['{"a":1,"a":2}', /duplicate key "a" at character 7/],
    ['{"a":1,"\\u0061":2}', /duplicate key "a"/],
    ['[[[[1]]]]', /nesting deeper than 3 levels/],
    ['{"a":1,}', /expected a string key/],
    ['[1,]', /unexpected "]"/],
    ['01', /unexpected data after/],
    ['1e400', /number 1e400 is out of range/],
    ['"a\tb"', /control character/],
    ['"\\x"', /invalid escape/],
    ['"abc', /unterminated string/],
    ['', /unexpected end of JSON/],
    ['NaN', /unexpected "N"/],
    ["{'a':1}", /expected a string key/],
  ])('rejects %s', (text, message) => {
    expect(() => parseJsonStrict(text, 3)).toThrow(JsonSyntaxError);
    expect(() => parseJsonStrict(text, 3)).toThrow(message);
  });

  it('keeps "__proto__" as an own key and normalises -0', () => {
    const v = parseJsonStrict('{"__proto__": {"x": 1}, "z": -0}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(Object.hasOwn(v, '__proto__')).toBe(true);
    expect(Object.is(v.z, 0)).toBe(true);
  });
});
