// Command-line options: one declarative table per command, a strict parser, and the help text.
//
// Every mistake (unknown option, missing or malformed value, unexpected argument) becomes a
// UsageError whose message is ONE line with a hint: main.ts prints it and exits with code 2.
// Values are checked here as far as their type allows (numbers, integers, choices, lists); the
// commands check the meaning (e.g. that a dataset exists) and throw UsageError the same way.

export type OptionType = 'string' | 'number' | 'int' | 'boolean' | 'choice' | 'int-list';

export interface OptionSpec {
  name: string;
  type: OptionType;
  help: string;
  /** Shown in --help; also the value when the option is absent (unless `defaultText` only). */
  default?: string | number | boolean | number[];
  /** Help-only text for defaults that depend on other options (e.g. "from the model file"). */
  defaultText?: string;
  choices?: readonly string[];
  /** Placeholder in --help, e.g. FILE. */
  arg?: string;
  short?: string;
  /** Inclusive lower bound for number/int; `exclusiveMin` makes it strict. */
  min?: number;
  exclusiveMin?: boolean;
  max?: number;
}

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  options: readonly OptionSpec[];
  /** Names of positional arguments for help; `variadic` allows any count >= min. */
  positionals?: { min: number; max: number };
  examples?: readonly string[];
}

export type OptionValue = string | number | boolean | number[];

export interface ParsedArgs {
  /** Every option: given values, else the declared default (undefined when none). */
  values: Record<string, OptionValue | undefined>;
  /** Options the user actually typed (to tell an explicit value from a default). */
  given: Set<string>;
  positionals: string[];
  help: boolean;
}

/** A mistake on the command line: printed as one line, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

const HELP: OptionSpec = { name: 'help', short: 'h', type: 'boolean', help: 'show this help and exit' };

export function parseArgs(cmd: CommandSpec, argv: readonly string[]): ParsedArgs {
  const specs = [...cmd.options, HELP];
  const byName = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  const values: Record<string, OptionValue | undefined> = {};
  const given = new Set<string>();
  const positionals: string[] = [];
  const where = `webgpu-trainer ${cmd.name}`;

  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('-') || a === '-' || /^-\d/.test(a)) {
      positionals.push(a);
      continue;
    }
    let spec: OptionSpec | undefined;
    let inline: string | undefined;
    let negated = false;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      inline = eq >= 0 ? a.slice(eq + 1) : undefined;
      spec = byName.get(name);
      if (!spec && name.startsWith('no-')) {
        const base = byName.get(name.slice(3));
        if (base?.type === 'boolean') {
          spec = base;
          negated = true;
        }
      }
      if (!spec) {
        const guess = closest(
          name,
          specs.map((s) => s.name),
        );
        const hint = guess ? `did you mean --${guess}?` : `see '${where} --help' for the options`;
        throw new UsageError(`unknown option --${name} for '${cmd.name}'; ${hint}`);
      }
    } else {
      spec = byShort.get(a.slice(1));
      if (!spec) throw new UsageError(`unknown option ${a} for '${cmd.name}'; see '${where} --help'`);
    }
    if (given.has(spec.name)) {
      throw new UsageError(`option --${spec.name} is given twice; keep one`);
    }
    given.add(spec.name);
    if (spec.type === 'boolean') {
      if (inline !== undefined) {
        if (!['true', 'false'].includes(inline))
          throw new UsageError(`--${spec.name} takes no value (use --${spec.name} or --no-${spec.name})`);
        values[spec.name] = inline === 'true';
      } else values[spec.name] = !negated;
      continue;
    }
    let raw = inline;
    if (raw === undefined) {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) {
        throw new UsageError(`--${spec.name} needs a value (${describeValue(spec)})`);
      }
      raw = next;
      i++;
    }
    values[spec.name] = convert(spec, raw);
  }

  for (const s of cmd.options) if (!given.has(s.name)) values[s.name] = s.default;
  const help = values.help === true;
  if (!help) {
    const { min, max } = cmd.positionals ?? { min: 0, max: 0 };
    if (positionals.length > max) {
      const extra = positionals[max];
      throw new UsageError(
        max === 0
          ? `'${cmd.name}' takes no arguments, got '${extra}'; options start with -- (see '${where} --help')`
          : `too many arguments for '${cmd.name}' starting at '${extra}'; usage: ${cmd.usage}`,
      );
    }
    if (positionals.length < min) throw new UsageError(`missing arguments; usage: ${cmd.usage}`);
  }
  return { values, given, positionals, help };
}

/** Parses one option value by its spec, throwing UsageError with the expected form. */
export function convert(spec: OptionSpec, raw: string): OptionValue {
  const bad = (what: string): never => {
    throw new UsageError(`--${spec.name}: ${what}`);
  };
  switch (spec.type) {
    case 'string':
      if (raw === '') bad('the value is empty');
      return raw;
    case 'choice': {
      const choices = spec.choices ?? [];
      if (choices.includes(raw)) return raw;
      const guess = closest(raw, choices);
      return bad(`'${raw}' is not one of ${choices.join(', ')}${guess ? `; did you mean '${guess}'?` : ''}`);
    }
    case 'number':
    case 'int': {
      const v = raw.trim() === '' ? NaN : Number(raw);
      const kind = spec.type === 'int' ? 'an integer' : 'a number';
      if (!Number.isFinite(v)) bad(`'${raw}' is not ${kind}`);
      if (spec.type === 'int' && !Number.isInteger(v)) bad(`'${raw}' is not an integer`);
      checkRange(spec, v, bad);
      return v;
    }
    case 'int-list': {
      const parts = raw.split(',').map((p) => p.trim());
      const nums = parts.map(Number);
      const i = nums.findIndex((n, k) => parts[k] === '' || !Number.isInteger(n) || n < 1);
      if (raw.trim() === '') return [];
      if (i >= 0) bad(`'${parts[i]}' in '${raw}' is not a positive integer (e.g. 512,256)`);
      return nums;
    }
    case 'boolean':
      return raw === 'true';
  }
}

function checkRange(spec: OptionSpec, v: number, bad: (m: string) => never): void {
  if (spec.min !== undefined && (spec.exclusiveMin ? v <= spec.min : v < spec.min)) {
    bad(`${v} is too small; it must be ${spec.exclusiveMin ? '>' : '>='} ${spec.min}`);
  }
  if (spec.max !== undefined && v > spec.max) bad(`${v} is too large; it must be <= ${spec.max}`);
}

function describeValue(spec: OptionSpec): string {
  switch (spec.type) {
    case 'choice':
      return `one of ${(spec.choices ?? []).join(', ')}`;
    case 'int':
      return 'an integer';
    case 'number':
      return 'a number';
    case 'int-list':
      return 'comma-separated integers, e.g. 512,256';
    default:
      return spec.arg ?? 'a value';
  }
}

/** The candidate nearest to `word` by edit distance, when it is close enough to be a likely typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d =
      c.startsWith(word) || word.startsWith(c) ? Math.abs(c.length - word.length) : editDistance(word, c);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        cur[j] = Math.min(cur[j], prev[j - 2] + 1);
    }
    prev = cur;
  }
  return prev[b.length];
}

function formatDefault(s: OptionSpec): string {
  if (s.defaultText !== undefined) return s.defaultText;
  if (s.default === undefined) return '';
  if (Array.isArray(s.default)) return s.default.join(',');
  if (s.type === 'boolean') return s.default ? 'on' : 'off';
  return String(s.default);
}

/** The full help text of a command: usage, summary, every option with its default, examples. */
export function helpText(cmd: CommandSpec): string {
  const lines = [`Usage: ${cmd.usage}`, '', ...wrap(cmd.summary, HELP_WIDTH), '', 'Options:'];
  const rows = [...cmd.options, HELP].map((s) => {
    const arg =
      s.type === 'boolean' ? '' : ` ${s.arg ?? (s.type === 'choice' ? (s.choices ?? []).join('|') : 'N')}`;
    const flag = `${s.short ? `-${s.short}, ` : '    '}--${s.name}${arg}`;
    const def = formatDefault(s);
    return { flag, text: `${s.help}${def ? ` (default: ${def})` : ''}` };
  });
  const width = Math.min(34, Math.max(...rows.map((r) => r.flag.length)) + 2);
  const indent = ' '.repeat(width + 2);
  for (const r of rows) {
    const text = wrap(r.text, HELP_WIDTH - width - 2).join(`\n${indent}`);
    lines.push(
      r.flag.length + 2 > width ? `  ${r.flag}\n${indent}${text}` : `  ${r.flag.padEnd(width)}${text}`,
    );
  }
  if (cmd.examples?.length) lines.push('', 'Examples:', ...cmd.examples.map((e) => `  ${e}`));
  return lines.join('\n') + '\n';
}

const HELP_WIDTH = 100;

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(line);
  return out;
}
