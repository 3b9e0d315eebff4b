// The command-line entry point: `webgpu-trainer <command> [options]`.
//
// Exit codes: 0 success; 1 a runtime failure (missing dataset, corrupt model file, GPU error);
// 2 a usage mistake (unknown option or command, bad value), always ONE line with a hint, never a
// stack trace; 130 interrupted by Ctrl-C after writing a checkpoint. Set WGT_DEBUG=1 to see the
// stack of an unexpected error.

import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { ConfigError, EngineError } from '../errors.js';
import { closest, helpText, parseArgs, UsageError, type CommandSpec, type ParsedArgs } from './args.js';
import { evalCommand, runEval } from './eval.js';
import { exportCommand, runExport } from './export.js';
import { importCommand, runImport } from './import.js';
import { infoCommand, runInfo } from './info.js';
import { processIo, type CliContext } from './terminal.js';
import { predictCommand, runPredict } from './predict.js';
import { runSelftestCommand, selftestCommand } from './selftest.js';
import { runTrain, trainCommand } from './train.js';

interface Command {
  spec: CommandSpec;
  run: (args: ParsedArgs, ctx: CliContext) => Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  train: { spec: trainCommand, run: runTrain },
  eval: { spec: evalCommand, run: runEval },
  predict: { spec: predictCommand, run: runPredict },
  info: { spec: infoCommand, run: runInfo },
  selftest: { spec: selftestCommand, run: runSelftestCommand },
  export: { spec: exportCommand, run: runExport },
  import: { spec: importCommand, run: runImport },
};

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    if (pkg.version) return pkg.version;
  } catch {
    // Not in the usual layout (dist/src/cli or src/cli two levels below the package): no version.
  }
  return 'unknown';
}

export function generalHelp(): string {
  const rows = Object.values(COMMANDS).map(
    (c) => `  ${c.spec.name.padEnd(9)}${c.spec.summary.split('. ')[0].replace(/\.$/, '')}.`,
  );
  return [
    'Usage: webgpu-trainer <command> [options]',
    '',
    'Train, evaluate and run neural networks (dense and convolutional) on WebGPU (any GPU, or a software Vulkan driver).',
    '',
    'Commands:',
    ...rows,
    '',
    "Run 'webgpu-trainer <command> --help' for a command's options and their defaults.",
    '',
    'Quick start:',
    '  webgpu-trainer train              # Fashion-MNIST MLP; writes runs/fashion-mnist/model.safetensors',
    '  webgpu-trainer eval runs/fashion-mnist/model.safetensors',
    '',
  ].join('\n');
}

/** Runs one command line; returns the exit code. Never throws for user mistakes. */
export async function main(argv: readonly string[], ctx: CliContext = { io: processIo() }): Promise<number> {
  const io = ctx.io;
  const [name, ...rest] = argv;
  try {
    if (name === undefined) {
      io.err(generalHelp());
      return 2;
    }
    if (name === '--help' || name === '-h' || name === 'help') {
      const sub = name === 'help' ? rest[0] : undefined;
      if (sub && COMMANDS[sub]) io.out(helpText(COMMANDS[sub].spec));
      else io.out(generalHelp());
      return 0;
    }
    if (name === '--version' || name === '-V') {
      io.out(`webgpu-trainer ${version()}\n`);
      return 0;
    }
    const cmd = COMMANDS[name];
    if (!cmd) {
      const guess = closest(name.replace(/^-+/, ''), Object.keys(COMMANDS));
      const hint = guess ? `did you mean '${guess}'?` : `commands: ${Object.keys(COMMANDS).join(', ')}`;
      throw new UsageError(
        name.startsWith('-')
          ? `expected a command before options, got '${name}'; ${hint}`
          : `unknown command '${name}'; ${hint}`,
      );
    }
    const args = parseArgs(cmd.spec, rest);
    if (args.help) {
      io.out(helpText(cmd.spec));
      return 0;
    }
    return await cmd.run(args, ctx);
  } catch (e) {
    return report(e, io.err, name);
  }
}

const FS_ERRORS: Record<string, string> = {
  ENOENT: 'no such file or folder',
  EACCES: 'permission denied',
  EISDIR: 'it is a folder, not a file',
  ENOTDIR: 'a part of the path is not a folder',
  ENOSPC: 'no space left on the device',
  EROFS: 'read-only file system',
};

function report(e: unknown, err: (t: string) => void, command: string | undefined): number {
  const debug = Boolean(process.env.WGT_DEBUG);
  const oneLine = (m: string) => m.replace(/\s*\n\s*/g, ' ');
  if (e instanceof UsageError || e instanceof ConfigError) {
    const help = command && COMMANDS[command] ? ` (see 'webgpu-trainer ${command} --help')` : '';
    err(`webgpu-trainer: error: ${oneLine(e.message)}${e instanceof ConfigError ? help : ''}\n`);
    return 2;
  }
  if (e instanceof EngineError) {
    err(`webgpu-trainer: ${e.name}: ${e.message}\n`);
    if (debug && e.stack) err(`${e.stack}\n`);
    return 1;
  }
  const sys = e as NodeJS.ErrnoException;
  if (sys && typeof sys.code === 'string' && typeof sys.path === 'string') {
    const why = FS_ERRORS[sys.code] ?? sys.code;
    err(`webgpu-trainer: error: cannot ${sys.syscall ?? 'access'} ${sys.path}: ${why}\n`);
    return 1;
  }
  const msg = e instanceof Error ? e.message : String(e);
  if (debug && e instanceof Error && e.stack) err(`webgpu-trainer: unexpected error: ${e.stack}\n`);
  else err(`webgpu-trainer: unexpected error: ${oneLine(msg)} (set WGT_DEBUG=1 for the stack trace)\n`);
  return 1;
}

// Run directly (`npx tsx src/cli/main.ts train ...` during development); the installed command
// goes through bin/webgpu-trainer.js, which imports this module and calls main itself.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  process.exit(await main(process.argv.slice(2)));
}
