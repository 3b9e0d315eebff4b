// The decisions of scripts/setup-system.sh (scripts/setup-plan.mjs) on made-up machines: root with
// apt, not root, no apt, a hardware GPU, software only, CI. Then the shell script itself with fake
// `id`, `apt-get`, `dpkg-query` and adapter probe on PATH, so nothing is installed for real (the
// install cases plan only packages from the main suite, never the backports source edit).
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/datasets.js';

const HW = JSON.stringify({ adapter: 'hardware', description: 'nvidia NVIDIA H100' });
const SW = JSON.stringify({ adapter: 'software', description: 'mesa llvmpipe' });
const NONE = JSON.stringify({ adapter: 'none', description: '' });
const ALL = 'chromium djpeg fashion swiftshader';

/** Runs the planner with only the given facts (no CI unless asked). */
function plan(facts: Record<string, string>): string[] {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', ...facts };
  const r = spawnSync(process.execPath, [path.join(REPO, 'scripts/setup-plan.mjs')], {
    env,
    encoding: 'utf8',
  });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.split('\n').filter((l) => l !== '');
}
const root = { SETUP_UID: '0', SETUP_APT: '1' };
const user = { SETUP_UID: '1000', SETUP_APT: '1' };

describe('setup plan', () => {
  it('root with apt, nothing here: lavapipe from backports, then the test tools and Fashion-MNIST', () => {
    expect(plan({ ...root, SETUP_MODE: 'test', SETUP_ADAPTER: NONE, SETUP_HAVE: '' })).toEqual([
      'install-backports mesa-vulkan-drivers libvulkan1',
      'install chromium libjpeg-turbo-progs dataset-fashion-mnist',
    ]);
  });

  it('npm start needs neither Chromium nor djpeg, and Fashion-MNIST only for the default data', () => {
    expect(
      plan({ ...root, SETUP_MODE: 'start', SETUP_ADAPTER: SW, SETUP_HAVE: '', SETUP_NEED_FASHION: '1' }),
    ).toEqual(['install dataset-fashion-mnist']);
    expect(
      plan({ ...root, SETUP_MODE: 'start', SETUP_ADAPTER: SW, SETUP_HAVE: '', SETUP_NEED_FASHION: '0' }),
    ).toEqual([]);
  });

  it('software adapter and everything present: nothing to do', () => {
    expect(plan({ ...user, SETUP_MODE: 'test', SETUP_ADAPTER: SW, SETUP_HAVE: ALL })).toEqual([]);
  });

  it('a hardware adapter: no software driver, even as root with apt', () => {
    const lines = plan({ ...root, SETUP_MODE: 'start', SETUP_ADAPTER: HW, SETUP_HAVE: 'fashion' });
    expect(lines).toEqual([
      'note hardware GPU adapter (nvidia NVIDIA H100); no software Vulkan driver needed',
    ]);
  });

  it('not root: one note per missing piece, no installs, no error', () => {
    const lines = plan({ ...user, SETUP_MODE: 'test', SETUP_ADAPTER: SW, SETUP_HAVE: '' });
    expect(lines).toHaveLength(3);
    expect(lines.every((l) => l.startsWith('note ') && l.includes('not root'))).toBe(true);
    expect(lines[0]).toMatch(/chromium missing.*browser demo tests will be skipped/);
    expect(lines[1]).toMatch(/djpeg missing.*libjpeg-turbo-progs/);
    expect(lines[2]).toMatch(/Fashion-MNIST not found locally.*skipped/);
  });

  it('no apt (a Mac, another distribution): notes say so; npm start downloads Fashion-MNIST instead', () => {
    const lines = plan({
      SETUP_UID: '0',
      SETUP_APT: '0',
      SETUP_MODE: 'start',
      SETUP_ADAPTER: HW,
      SETUP_HAVE: '',
      SETUP_NEED_FASHION: '1',
    });
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^note hardware GPU adapter/);
    expect(lines[1]).toMatch(/^note Fashion-MNIST .*no apt-get here.*downloads it \(md5-verified\)/);
  });

  it('no adapter and no way to install one: a one-line error (nothing can run)', () => {
    const lines = plan({
      ...user,
      SETUP_MODE: 'start',
      SETUP_ADAPTER: NONE,
      SETUP_HAVE: 'fashion',
      SETUP_MESA: '22.3.6-1',
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^error .*mesa-vulkan-drivers 22\.3\.6-1 is too old.*not root/);
  });

  it("no adapter but Chromium's SwiftShader: a note, training still runs", () => {
    const lines = plan({
      ...user,
      SETUP_MODE: 'start',
      SETUP_ADAPTER: NONE,
      SETUP_HAVE: 'fashion swiftshader',
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^note .*SwiftShader/);
  });

  it('adapter unknown (npm packages not installed yet): root installs lavapipe, a user gets a note', () => {
    expect(plan({ ...root, SETUP_MODE: 'start', SETUP_ADAPTER: 'not json', SETUP_HAVE: 'fashion' })).toEqual([
      'install-backports mesa-vulkan-drivers libvulkan1',
    ]);
    const lines = plan({
      ...user,
      SETUP_MODE: 'start',
      SETUP_ADAPTER: '{"adapter":"unknown"}',
      SETUP_HAVE: 'fashion',
    });
    expect(lines).toEqual([
      expect.stringMatching(/^note could not ask Dawn.*not installing lavapipe \(not root\)$/),
    ]);
  });

  it('CI=true: a test tool that cannot be installed is an error, as is SwiftShader-only', () => {
    const lines = plan({
      ...user,
      CI: 'true',
      SETUP_MODE: 'test',
      SETUP_ADAPTER: SW,
      SETUP_HAVE: 'fashion swiftshader',
    });
    expect(lines).toEqual([
      expect.stringMatching(/^error chromium is missing .*CI runs the browser demo tests$/),
      expect.stringMatching(/^error djpeg is missing/),
    ]);
    expect(plan({ ...user, CI: 'true', SETUP_MODE: 'test', SETUP_ADAPTER: NONE, SETUP_HAVE: ALL })).toEqual([
      expect.stringMatching(/^error Dawn finds no adapter/),
    ]);
    // As root with apt (the CI machine) the same facts install instead.
    expect(
      plan({ ...root, CI: 'true', SETUP_MODE: 'test', SETUP_ADAPTER: SW, SETUP_HAVE: 'fashion' }),
    ).toEqual(['install chromium libjpeg-turbo-progs']);
  });

  it("the JPEG accelerator's header: root installs it, a user gets a note, CI without root fails", () => {
    const need = { SETUP_MODE: 'test', SETUP_ADAPTER: SW, SETUP_HAVE: ALL, SETUP_NEED_TURBOJPEG: '1' };
    expect(plan({ ...root, ...need })).toEqual(['install libturbojpeg0-dev']);
    expect(plan({ ...user, ...need })).toEqual([
      expect.stringMatching(/^note libturbojpeg0-dev missing .*sharp decodes JPEGs$/),
    ]);
    expect(plan({ ...user, ...need, CI: 'true' })).toEqual([
      expect.stringMatching(/^error libturbojpeg0-dev is missing .*CI builds the JPEG accelerator$/),
    ]);
    expect(plan({ ...root, ...need, SETUP_NEED_TURBOJPEG: '0' })).toEqual([]);
  });
});

describe('setup-system.sh with fake id / apt-get / dpkg-query / adapter probe', () => {
  const bin = mkdtempSync(path.join(os.tmpdir(), 'setup-fakes-'));
  const log = path.join(bin, 'apt.log');
  const fake = (name: string, body: string): void => {
    writeFileSync(path.join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(path.join(bin, name), 0o755);
  };
  fake('id', 'echo "$FAKE_UID"');
  fake('apt-get', `echo "apt-get $*" >> ${log}`);
  fake('dpkg-query', 'echo "25.0.7-2~bpo12+1"');
  fake('probe', 'echo "Warning: Dawn start-up noise" >&2; echo "$FAKE_PROBE"');

  function run(mode: string, env: Record<string, string>) {
    writeFileSync(log, '');
    const r = spawnSync('bash', [path.join(REPO, 'scripts/setup-system.sh'), mode], {
      env: {
        PATH: `${bin}:${process.env.PATH ?? ''}`,
        HOME: bin,
        WGT_ADAPTER_PROBE: path.join(bin, 'probe'),
        ...env,
      },
      encoding: 'utf8',
    });
    return { code: r.status, out: r.stdout, err: r.stderr, apt: readFileSync(log, 'utf8') };
  }

  it('root with apt: installs exactly the missing test tools through apt-get', () => {
    const r = run('test', { FAKE_UID: '0', FAKE_PROBE: SW, SETUP_HAVE: 'fashion' });
    expect(r.code, r.err).toBe(0);
    expect(r.apt).toBe('apt-get update -qq\napt-get install -y -qq chromium libjpeg-turbo-progs\n');
    expect(r.out).toContain('setup-system: installed chromium libjpeg-turbo-progs');
  });

  it('not root, real GPU, npm start: one line for the download, no apt-get, exit 0', () => {
    const r = run('start', { FAKE_UID: '1000', FAKE_PROBE: HW, SETUP_HAVE: '', SETUP_NEED_FASHION: '1' });
    expect(r.code, r.err).toBe(0);
    expect(r.apt).toBe('');
    const lines = r.out.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe(
      'setup-system: hardware GPU adapter (nvidia NVIDIA H100); no software Vulkan driver needed',
    );
    expect(lines[1]).toMatch(/^setup-system: Fashion-MNIST not found locally .*not root/);
  });

  it('CI=true and not root: exits 1 with one error line per missing piece', () => {
    const r = run('test', { FAKE_UID: '1000', FAKE_PROBE: SW, SETUP_HAVE: 'fashion djpeg', CI: 'true' });
    expect(r.code).toBe(1);
    expect(r.apt).toBe('');
    expect(r.err.trim().split('\n')).toEqual([
      expect.stringMatching(/^setup-system: error: chromium is missing/),
    ]);
  });

  it('no adapter and not root: exits 1 naming what to install', () => {
    const r = run('start', { FAKE_UID: '1000', FAKE_PROBE: NONE, SETUP_HAVE: 'fashion' });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^setup-system: error: Dawn finds no adapter.*bash scripts\/setup-system.sh\n$/);
  });
});
