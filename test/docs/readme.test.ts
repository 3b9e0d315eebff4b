// The README stays a five-minute read (issue 31): about 250 lines at most, and no prose line over
// 120 characters (code blocks and tables may be wider). History and long tables belong in docs/.
// Every relative link in it and in docs/ must point at a file that exists.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
const lines = readme.split('\n');

describe('README', () => {
  it('is at most about 250 lines', () => {
    expect(lines.length).toBeLessThanOrEqual(260);
  });

  it('has no prose line over 120 characters outside code blocks and tables', () => {
    let inCode = false;
    const long: string[] = [];
    lines.forEach((line, i) => {
      if (line.startsWith('```')) inCode = !inCode;
      else if (!inCode && !line.startsWith('|') && line.length > 120) long.push(`line ${i + 1}: ${line}`);
    });
    expect(long).toEqual([]);
  });

  it('with the pages of docs/, links only to files that exist', () => {
    const pages = ['README.md', ...readdirSync(path.join(root, 'docs')).map((f) => `docs/${f}`)];
    const missing = pages.flatMap((page) =>
      [...readFileSync(path.join(root, page), 'utf8').matchAll(/\]\(([^)#:]+)(#[^)]*)?\)/g)]
        .map((m) => m[1])
        .filter((target) => !existsSync(path.join(root, path.dirname(page), target)))
        .map((target) => `${page}: ${target}`),
    );
    expect(missing).toEqual([]);
  });
});
