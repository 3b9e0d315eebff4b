// The network form: presets into the controls, and the controls read back as a NetConfig. The
// activation, loss and optimizer choices come from the engine's vocabulary, not from the page.

import {
  ACTIVATIONS,
  ConfigError,
  LOSSES,
  OPTIMIZERS,
  type LossName,
  type OptimizerName,
} from '../../src/index.js';
import { byId, numberInput } from './dom.js';
import { ARCHS, parseSizes, PRESETS, type Arch, type NetConfig, type PresetId } from './network.js';

const LOSS_LABELS: Readonly<Record<LossName, string>> = {
  'softmax-ce': 'softmax cross-entropy',
  bce: 'binary cross-entropy (sigmoid)',
  mse: 'mean squared error (sigmoid)',
};

function fill(id: string, choices: readonly { value: string; label: string }[]): void {
  const select = byId(id, HTMLSelectElement);
  select.replaceChildren(...choices.map((c) => new Option(c.label, c.value)));
}

/** Fills the hidden-activation, loss and optimizer lists (softmax belongs to the output layer). */
export function fillChoices(): void {
  const plain = (v: string) => ({ value: v, label: v });
  fill('hidden', ACTIVATIONS.filter((a) => a !== 'softmax' && a !== 'identity').map(plain));
  fill(
    'loss',
    ['softmax-ce' as const, ...LOSSES.filter((l) => l !== 'softmax-ce')].map((l) => ({
      value: l,
      label: LOSS_LABELS[l],
    })),
  );
  fill('optimizer', [...OPTIMIZERS].reverse().map(plain));
}

export function applyPreset(id: PresetId): void {
  const p = PRESETS[id];
  byId('preset', HTMLSelectElement).value = id;
  byId('arch', HTMLSelectElement).value = p.arch;
  byId('sizes', HTMLInputElement).value = p.sizes.join(', ');
  byId('hidden', HTMLSelectElement).value = p.hidden;
  byId('loss', HTMLSelectElement).value = p.loss;
  byId('optimizer', HTMLSelectElement).value = p.optimizer;
  byId('lr', HTMLInputElement).value = String(p.lr);
  byId('batch', HTMLInputElement).value = String(p.batchSize);
  byId('epochs', HTMLInputElement).value = String(p.epochs);
  byId('max-steps', HTMLInputElement).value = String(p.maxSteps);
  byId('val-split', HTMLInputElement).value = String(p.validationSplit);
  archChanged();
}

export function archChanged(): void {
  const dense = byId('arch', HTMLSelectElement).value === 'mlp';
  byId('sizes', HTMLInputElement).disabled = !dense;
  byId('hidden', HTMLSelectElement).disabled = !dense;
}

export function readForm(): NetConfig {
  const lr = Number(byId('lr', HTMLInputElement).value);
  if (!(lr > 0)) throw new ConfigError('The learning rate must be a positive number, e.g. 0.001.');
  const arch = byId('arch', HTMLSelectElement).value as Arch;
  if (!ARCHS.includes(arch)) throw new ConfigError(`Unknown network kind ${arch}.`);
  return {
    arch,
    sizes: arch === 'mlp' ? parseSizes(byId('sizes', HTMLInputElement).value) : [0],
    hidden: byId('hidden', HTMLSelectElement).value as NetConfig['hidden'],
    loss: byId('loss', HTMLSelectElement).value as NetConfig['loss'],
    optimizer: byId('optimizer', HTMLSelectElement).value as OptimizerName,
    lr,
    batchSize: Math.round(numberInput('batch', 64, 1, 65536)),
    epochs: Math.round(numberInput('epochs', 1, 1, 100000)),
    maxSteps: Math.round(numberInput('max-steps', 0, 0, 1e9)),
    seed: Math.round(numberInput('seed', 1, 0, 2 ** 31)),
    validationSplit: numberInput('val-split', 0, 0, 0.5),
  };
}

export function readFormOrUndefined(): NetConfig | undefined {
  try {
    return readForm();
  } catch {
    return undefined;
  }
}
