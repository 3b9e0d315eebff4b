// The CLI's side of the network presets (src/nn/presets.ts): --arch and --model FILE, a JSON
// ModelSpec in the API's vocabulary ({"layers": [...]} and optionally "loss"; the input shape comes
// from the data). Library errors become usage errors naming the flag.

import { readFile } from 'node:fs/promises';
import { ConfigError } from '../errors.js';
import type { LayerSpec, ModelSpec } from '../nn/layers.js';
import { isLoss, LOSSES, type LossName } from '../nn/losses.js';
import { completeStack, presetSpec, type Arch } from '../nn/presets.js';
import { UsageError } from './args.js';

export { ARCHS, cnnLayers, lenetLayers, outputLayer, type Arch } from '../nn/presets.js';

/** A ConfigError from the library as a usage error that names the flag. */
function asUsage<T>(flag: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(`${flag}: ${e.message}`);
    throw e;
  }
}

/** The network of --arch for this data. mlp takes its hidden layers from --layers. */
export function archSpec(
  arch: Arch,
  shape: [number, number, number],
  classes: number,
  loss: LossName,
  mlpHidden: LayerSpec[],
): ModelSpec {
  return asUsage(`--arch ${arch}`, () => presetSpec(arch, shape, classes, loss, mlpHidden));
}

/** A --model stack on this data: the output layer appended when it is missing; errors as one line. */
export function customSpec(
  layers: readonly LayerSpec[],
  shape: [number, number, number],
  classes: number,
  loss: LossName,
  file: string,
): ModelSpec {
  return asUsage(`--model ${file}`, () => completeStack(layers, shape, classes, loss));
}

/** Reads a --model JSON file: {"layers": [...], "loss"?: ...}. */
export async function readModelJson(file: string): Promise<{ layers: LayerSpec[]; loss?: LossName }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new UsageError(`--model: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--model: ${file} is not valid JSON (${(e as Error).message})`);
  }
  const obj = json as { layers?: unknown; loss?: unknown };
  if (typeof json !== 'object' || json === null || !Array.isArray(obj.layers) || obj.layers.length === 0) {
    throw new UsageError(
      `--model: ${file} must hold {"layers": [...]} with at least one layer, e.g. {"layers": [{"type": "conv2d", "filters": 16, "kernelSize": 3}, {"type": "flatten"}]}`,
    );
  }
  if (obj.loss !== undefined && (typeof obj.loss !== 'string' || !isLoss(obj.loss)))
    throw new UsageError(
      `--model: ${file}: unknown loss ${JSON.stringify(obj.loss)} (use ${LOSSES.join(', ')})`,
    );
  return { layers: obj.layers as LayerSpec[], loss: obj.loss as LossName | undefined };
}
