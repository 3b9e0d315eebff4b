// Command-line mistakes give ONE line with a hint and exit code 2 (no stack trace), and --help on
// every command lists every option with its default. None of these touch the GPU.

import { describe, expect, it } from 'vitest';
import { closest, parseArgs, UsageError } from '../../src/cli/args.js';
import { evalCommand } from '../../src/cli/eval.js';
import { infoCommand } from '../../src/cli/info.js';
import { predictCommand } from '../../src/cli/predict.js';
import { trainCommand } from '../../src/cli/train.js';
import { runCli } from './helpers.js';

const COMMANDS = [trainCommand, evalCommand, predictCommand, infoCommand];

function expectUsageError(r: { code: number; out: string; err: string }, pattern: RegExp): void {
  expect(r.code).toBe(2);
  expect(r.out).toBe('');
  const lines = r.err.split('\n').filter((l) => l !== '');
  expect(lines, r.err).toHaveLength(1);
  expect(lines[0]).toMatch(/^webgpu-trainer: error: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.err).not.toMatch(/\n\s+at /);
}

describe('usage errors', () => {
  const cases: [string[], RegExp][] = [
    [['train', '--lr0', '0.1'], /unknown option --lr0 for 'train'; did you mean --lr\?/],
    [['train', '--batchsize', '32'], /did you mean --batch-size\?/],
    [['train', '--epochs', '1.5'], /--epochs: '1.5' is not an integer/],
    [['train', '--epochs', '0'], /--epochs: 0 is too small; it must be >= 1/],
    [['train', '--lr', 'fast'], /--lr: 'fast' is not a number$/],
    [['train', '--epochs', 'abc'], /--epochs: 'abc' is not an integer$/],
    [['train', '--lr', '-1'], /--lr: -1 is too small; it must be > 0/],
    [
      ['train', '--optimizer', 'adma'],
      /'adma' is not one of adam, adamw, momentum, sgd; did you mean 'adam'\?/,
    ],
    [['train', '--layers', '512,x'], /--layers: 'x' in '512,x' is not a positive integer/],
    [['train', '--epochs'], /--epochs needs a value \(an integer\)/],
    [['train', '--epochs', '--lr', '1'], /--epochs needs a value/],
    [['train', '--lr', '1', '--lr', '2'], /--lr is given twice/],
    [['train', 'mnist'], /'train' takes no arguments, got 'mnist'; options start with --/],
    [['train', '--validation', '1.5'], /--validation: '1.5' must be a fraction between 0 and 1/],
    [['train', '--image-size', '64'], /--image-size: '64' is not HxW/],
    [['train', '--data', 'mnsit'], /'mnsit' is neither a known dataset .* did you mean 'mnist'\?/],
    [['train', '--config', '/nonexistent/cfg.json'], /--config: cannot read \/nonexistent\/cfg.json/],
    [
      ['train', '--resume', 'x.safetensors', '--optimizer', 'sgd'],
      /--optimizer cannot be combined with --resume/,
    ],
    [['train', '--no-lr'], /unknown option --no-lr/],
    [['trian'], /unknown command 'trian'; did you mean 'train'\?/],
    [['--epochs', '3'], /expected a command before options, got '--epochs'/],
    [['eval'], /missing arguments; usage: webgpu-trainer eval MODEL/],
    [['eval', 'a', 'b'], /too many arguments for 'eval' starting at 'b'/],
    [['predict', 'model.safetensors'], /missing arguments; usage: webgpu-trainer predict MODEL/],
    [['predict', '--top', 'two', 'm', 'x.png'], /--top: 'two' is not an integer$/],
    [['info', '--jsno'], /did you mean --json\?/],
    [['eval', '--split', 'tset', 'm.safetensors'], /'tset' is not one of test, train; did you mean 'test'\?/],
  ];
  for (const [argv, pattern] of cases) {
    it(argv.join(' '), async () => expectUsageError(await runCli(argv), pattern));
  }

  it('a bad key in a --config file names the file and suggests the key', async () => {
    const { mkdtemp, writeFile } = await import('node:fs/promises');
    const os = await import('node:os');
    const path = await import('node:path');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'wgt-cfg-'));
    const file = path.join(dir, 'cfg.json');
    await writeFile(file, JSON.stringify({ layers: [32], learningRate: 0.1 }));
    expectUsageError(await runCli(['train', '--config', file]), /unknown key "learningRate" .*cfg.json/);
    await writeFile(file, JSON.stringify({ batchSize: 'big' }));
    expectUsageError(await runCli(['train', '--config', file]), /batch-size: 'big' is not an integer/);
    await writeFile(file, '{"layers": [32],');
    expectUsageError(await runCli(['train', '--config', file]), /is not valid JSON/);
  });

  it('a missing model file is a one-line error with exit code 1', async () => {
    const r = await runCli(['eval', '/nonexistent/model.safetensors']);
    expect(r.code).toBe(1);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).not.toMatch(/\n\s+at /);
  });
});

describe('--help', () => {
  for (const cmd of COMMANDS) {
    it(`${cmd.name} --help lists every option with its default`, async () => {
      const r = await runCli([cmd.name, '--help']);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(new RegExp(`^Usage: webgpu-trainer ${cmd.name}`));
      // Group the option rows: each starts "  -h, --name" or "      --name"; deeper lines continue it.
      const rows = new Map<string, string>();
      let current = '';
      for (const line of r.out.split('\n')) {
        const m = /^ {2}(?:-\w, | {4})--([\w-]+)/.exec(line);
        if (m) rows.set((current = m[1]), line);
        else if (current && /^ {6,}\S/.test(line)) rows.set(current, `${rows.get(current)} ${line.trim()}`);
        else current = '';
      }
      for (const o of cmd.options) {
        expect(rows.has(o.name), `--${o.name} is listed`).toBe(true);
        expect(rows.get(o.name), `--${o.name} shows a default`).toMatch(/\(default: [^)]/);
      }
      expect(rows.has('help')).toBe(true);
    });
  }

  it('-h works too, and `help train` equals `train --help`', async () => {
    const a = await runCli(['train', '-h']);
    const b = await runCli(['help', 'train']);
    expect(a.out).toBe(b.out);
  });

  it('no command prints the command list and exits 2; --help exits 0', async () => {
    const none = await runCli([]);
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/Commands:\n\s+train/);
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    for (const c of COMMANDS) expect(help.out).toContain(`  ${c.name}`);
  });
});

describe('parser details', () => {
  it('takes --name=value, --no-flag, and keeps defaults for absent options', () => {
    const a = parseArgs(evalCommand, ['m.safetensors', '--batch-size=64', '--no-json']);
    expect(a.values['batch-size']).toBe(64);
    expect(a.values.json).toBe(false);
    // --split has no fixed default (test split when there is one, else all the data).
    expect(a.values.split).toBeUndefined();
    expect(a.values.limit).toBeUndefined();
    expect([...a.given].sort()).toEqual(['batch-size', 'json']);
    expect(a.positionals).toEqual(['m.safetensors']);
  });

  it('accepts negative numbers as values and an empty int list', () => {
    expect(() => parseArgs(trainCommand, ['--warmup', '-3'])).toThrow(UsageError);
    expect(parseArgs(trainCommand, ['--layers', '']).values.layers).toEqual([]);
  });

  it('offers every hidden activation of the vocabulary, relu6 and hardswish included', () => {
    for (const act of ['relu6', 'hardswish'])
      expect(parseArgs(trainCommand, ['--activation', act]).values.activation).toBe(act);
    expect(() => parseArgs(trainCommand, ['--activation', 'softmax'])).toThrow(UsageError);
  });

  it('suggests only close names', () => {
    expect(closest('lr0', ['lr', 'layers'])).toBe('lr');
    expect(closest('epoch', ['epochs', 'seed'])).toBe('epochs');
    expect(closest('zzzzzz', ['lr', 'epochs'])).toBeUndefined();
  });
});
