// The WGT_* list in src/env-vars.ts is complete and has no dead entries: every WGT_ variable that
// code under src/, scripts/, bench/ or test/ reads is listed (as a user setting or as test-only),
// every user setting is read by src/ or scripts/, every test-only one somewhere, and
// docs/environment.md documents each listed variable.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TEST_ENV_VARS, USER_ENV_VARS } from '../src/env-vars.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const SOURCE = /\.(ts|mts|js|mjs|cjs|sh|bash)$/;

function files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(path.join(ROOT, dir))) {
    const rel = path.join(dir, name);
    if (name === 'node_modules' || name === 'results' || name.startsWith('.')) continue;
    if (statSync(path.join(ROOT, rel)).isDirectory()) out.push(...files(rel));
    else if (SOURCE.test(name)) out.push(rel);
  }
  return out;
}

// Reads, not mentions: process.env.X, process.env?.X, env.X, env['X'], envVariable('X'), and the
// shell's $X / ${X...}. A message that tells the user to set a variable is not a read.
const READ =
  /(?:\benv\??\.(WGT_\w+))|(?:\benv\[['"](WGT_\w+)['"]\])|(?:envVariable\(['"](WGT_\w+)['"]\))|(?:\$\{?(WGT_\w+))/g;

function readsIn(dirs: string[]): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const file of dirs.flatMap(files)) {
    const text = readFileSync(path.join(ROOT, file), 'utf8');
    for (const m of text.matchAll(READ)) {
      const name = m[1] ?? m[2] ?? m[3] ?? m[4];
      found.set(name, [...(found.get(name) ?? []), file]);
    }
  }
  return found;
}

describe('WGT_ environment variables', () => {
  const user = USER_ENV_VARS.map((v) => v.name as string);
  const testOnly = TEST_ENV_VARS.map((v) => v.name as string);
  const shipped = readsIn(['src', 'scripts']);
  const all = readsIn(['src', 'scripts', 'bench', 'test']);

  it('every variable the code reads is listed', () => {
    const unlisted = [...all.entries()].filter(([name]) => !user.includes(name) && !testOnly.includes(name));
    expect(unlisted.map(([name, where]) => `${name} (read in ${where.join(', ')})`)).toEqual([]);
  });

  it('every listed setting is read by shipped code, every test-only one somewhere', () => {
    expect(user.filter((name) => !shipped.has(name))).toEqual([]);
    expect(testOnly.filter((name) => !all.has(name))).toEqual([]);
    expect(new Set([...user, ...testOnly]).size).toBe(user.length + testOnly.length);
  });

  it('docs/environment.md documents every listed variable', () => {
    const doc = readFileSync(path.join(ROOT, 'docs/environment.md'), 'utf8');
    for (const name of [...user, ...testOnly]) expect(doc, name).toContain(`\`${name}\``);
    const documented = new Set(doc.match(/WGT_\w+/g));
    expect([...documented].filter((n) => !user.includes(n) && !testOnly.includes(n))).toEqual([]);
  });

  it('the scan finds the reads it must (a broken pattern cannot pass silently)', () => {
    expect(shipped.get('WGT_MATMUL_VARIANT')).toContain(path.join('src', 'engine', 'tune.ts'));
    expect(shipped.get('WGT_DATA_DIR')).toContain(path.join('scripts', 'setup-system.sh'));
    expect(shipped.get('WGT_DEBUG')).toContain(path.join('src', 'cli', 'main.ts'));
  });
});
