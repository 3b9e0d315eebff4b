// export --torch of torchvision networks, without Python: an imported resnet18 / mobilenet_v2
// (state dicts with torchvision's exact names and shapes from test/fixtures/torchvision/keys.json,
// seeded random values) gives a model.py that builds torchvision's own class, and a rename
// (STATE_NAMES) whose targets are exactly torchvision's state_dict keys, each carrying the same
// tensor bit for bit; a re-headed fine-tune (training.from, another class count) too; a look-alike
// whose metadata names torchvision but whose network differs falls back to the generic module.
// PyTorch's own check (the logits of model.load() against the reference) is in
// scripts/torch-roundtrip.sh torchvision, which needs python3-torch.

import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportTorch } from '../../src/export/project.js';
import type { ArchitectureJson } from '../../src/export/torch-model.js';
import { claimedArchs, torchvisionMismatch } from '../../src/export/torchvision-export.js';
import type { JsonObject } from '../../src/io/json.js';
import { decodeSafetensors, encodeSafetensors } from '../../src/io/safetensors.js';
import type { StateDict } from '../../src/io/state-dict.js';
import { importTorchvision } from '../../src/io/torchvision-import.js';
import { torchvisionSpec, type TorchvisionArch } from '../../src/nn/torchvision.js';
import { Rng } from '../../src/rng.js';
import { REPO } from '../helpers/datasets.js';

type KeyList = [name: string, shape: number[], dtype: 'F32' | 'I64'][];
const KEYS = JSON.parse(
  readFileSync(path.join(REPO, 'test/fixtures/torchvision/keys.json'), 'utf8'),
) as Record<TorchvisionArch, KeyList>;
const HEAD: Record<string, string> = { resnet18: 'fc', mobilenet_v2: 'classifier.1' };

/** torchvision's state dict for `arch` with a `classes`-output head, seeded random values. */
function stateDict(arch: TorchvisionArch, classes: number): StateDict {
  const rng = new Rng(classes);
  const sd: StateDict = new Map();
  for (const [name, keyShape, dtype] of KEYS[arch]) {
    const shape = name.startsWith(`${HEAD[arch]}.`) ? [classes, ...keyShape.slice(1)] : keyShape;
    const n = shape.reduce((a, b) => a * b, 1);
    const data =
      dtype === 'I64'
        ? BigInt64Array.of(5n)
        : Float32Array.from({ length: n }, () => rng.uniform(name.endsWith('running_var') ? 0.5 : -2, 2));
    sd.set(name, { dtype, shape, data, sourceDtype: dtype });
  }
  return sd;
}

/** The model file's bytes with its metadata header changed by `edit`. */
function withHeader(bytes: Uint8Array, edit: (h: JsonObject) => void): Uint8Array {
  const { tensors, metadata } = decodeSafetensors(bytes, 'in');
  const header = JSON.parse(metadata.webgpu_trainer) as JsonObject;
  edit(header);
  return encodeSafetensors(tensors, { ...metadata, webgpu_trainer: JSON.stringify(header) });
}

async function exported(bytes: Uint8Array, name: string) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'wgt-tv-export-'));
  const file = path.join(dir, name);
  await writeFile(file, bytes);
  const r = await exportTorch(file, path.join(dir, 'torch'));
  const read = (f: string) => readFile(path.join(dir, 'torch', f), 'utf8');
  return { r, modelPy: await read('model.py'), readme: await read('README.md') };
}

/** An imported model file (64x64 inputs) and the state dict it came from, built once per arch and size. */
const importCache = new Map<string, { sd: StateDict; bytes: Uint8Array }>();
function imported(arch: TorchvisionArch, classes: number): { sd: StateDict; bytes: Uint8Array } {
  const key = `${arch}/${classes}`;
  let hit = importCache.get(key);
  if (hit === undefined) {
    const sd = stateDict(arch, classes);
    hit = { sd, bytes: importTorchvision(sd, { fileName: `${arch}.pth`, imageSize: [64, 64] }).bytes };
    importCache.set(key, hit);
  }
  return hit;
}

const bytesOf = (d: ArrayBufferView) => Buffer.from(d.buffer, d.byteOffset, d.byteLength);

/** Every file tensor renamed onto torchvision's key holding the same bytes, and no key left out. */
function expectRenameCovers(
  bytes: Uint8Array,
  stateNames: [string, string][],
  sd: StateDict,
  arch: TorchvisionArch,
): void {
  const { tensors } = decodeSafetensors(bytes, 'model');
  expect(stateNames.map(([f]) => f).sort()).toEqual(Object.keys(tensors).sort());
  expect(stateNames.map(([, t]) => t).sort()).toEqual(KEYS[arch].map(([k]) => k).sort());
  for (const [f, t] of stateNames) {
    const want = sd.get(t)!;
    expect(tensors[f].shape, f).toEqual(want.shape);
    expect(Buffer.compare(bytesOf(tensors[f].data), bytesOf(want.data)), `${f} -> ${t}`).toBe(0);
  }
}

describe('export --torch of a torchvision network', () => {
  for (const arch of ['resnet18', 'mobilenet_v2'] as const) {
    it(`${arch} imported: model.py builds torchvision.models.${arch} and renames every tensor`, async () => {
      const { sd, bytes } = imported(arch, 10);
      const { r, modelPy, readme } = await exported(bytes, 'imported.safetensors');
      expect(r.torchvision.target).toEqual({ arch, classes: 10 });
      expect(modelPy).toContain(`    return torchvision.models.${arch}(num_classes=NUM_CLASSES)`);
      expect(modelPy).toContain('NUM_CLASSES = 10');
      expect(modelPy).toContain(
        'net.load_state_dict({STATE_NAMES[k]: v for k, v in tensors.items()}, strict=True)',
      );
      expect(modelPy).not.toContain('class Net');
      expectRenameCovers(bytes, r.plan.stateNames, sd, arch);
      // train.py finds every optimizer slot under a renamed tensor.
      const renamed = new Set(r.plan.stateNames.map(([f]) => f));
      for (const s of r.plan.engineSlots) expect(renamed.has(s.name), s.name).toBe(true);
      expect(readme).toContain(`The network is torchvision's \`${arch}\``);
      expect(readme).toContain(`torchvision.models.${arch}(num_classes=10)`);
    });
  }

  it('a re-headed fine-tune (training.from, 2 classes) builds resnet18(num_classes=2)', async () => {
    const { sd, bytes: start } = imported('resnet18', 2);
    // What `train --from imported.safetensors` writes: the source moves into training.from.
    const bytes = withHeader(start, (h) => {
      const source = (h.training as JsonObject).source;
      h.training = {
        config: { data: 'catvnoncat', arch: 'mlp', epochs: 1 },
        from: { file: 'imported.safetensors', sha256: 'ab'.repeat(32), source },
      };
    });
    const { r, modelPy } = await exported(bytes, 'finetuned.safetensors');
    expect(r.torchvision.target).toEqual({ arch: 'resnet18', classes: 2 });
    expect(modelPy).toContain('NUM_CLASSES = 2');
    expectRenameCovers(bytes, r.plan.stateNames, sd, 'resnet18');
    expect(r.plan.stateNames).toContainEqual(['layers.50.weight', 'fc.weight']);
  });

  it('a look-alike whose metadata names resnet18 falls back to the generic module, saying why', async () => {
    const { bytes } = imported('resnet18', 10);
    // The same tensors and names, but the first block's add has no relu: not torchvision's network.
    const lookalike = withHeader(bytes, (h) => {
      const layers = (h.architecture as unknown as ArchitectureJson).layers;
      const add = layers.find((l) => l.name === 'layer1.0.add')!;
      (add as { activation?: string }).activation = 'identity';
    });
    const { r, modelPy, readme } = await exported(lookalike, 'lookalike.safetensors');
    expect(r.torchvision.target).toBeNull();
    expect(modelPy).not.toContain('torchvision');
    expect(modelPy).toContain('class Net(nn.Module):');
    expect(r.plan.stateNames[0]).toEqual(['layers.0.weight', 'layers.0.weight']);
    expect(readme).toContain(
      "not torchvision's class: its metadata names torchvision's resnet18, but its layers.7 is",
    );
  });

  it('the exact network without a torchvision name in its metadata stays generic', async () => {
    const { bytes } = imported('mobilenet_v2', 10);
    const anonymous = withHeader(bytes, (h) => {
      h.training = { config: { arch: 'mlp' } };
    });
    const { r, readme } = await exported(anonymous, 'anon.safetensors');
    expect(r.torchvision).toEqual({ target: null, reason: 'its metadata names no torchvision architecture' });
    expect(readme).toContain('plain `torch.nn` modules');
  });
});

describe('torchvisionMismatch', () => {
  const spec = torchvisionSpec('resnet18', [40, 48, 3], 7);
  const model = (edit?: (layers: ArchitectureJson['layers']) => void, loss = spec.loss): ArchitectureJson => {
    const layers = JSON.parse(JSON.stringify(spec.layers)) as ArchitectureJson['layers'];
    edit?.(layers);
    return { inputShape: [40, 48, 3], inputSize: 40 * 48 * 3, layers, loss };
  };

  it('accepts the network with any head size, a bce head, and keys in any order', () => {
    expect(torchvisionMismatch('resnet18', model())).toBeNull();
    const reordered = model((ls) => {
      ls[0] = Object.fromEntries(Object.entries(ls[0]).reverse()) as (typeof ls)[0];
    });
    expect(torchvisionMismatch('resnet18', reordered)).toBeNull();
    const bce = model((ls) => {
      ls[ls.length - 1] = { type: 'dense', name: 'fc', units: 1, activation: 'sigmoid' };
    }, 'bce');
    expect(torchvisionMismatch('resnet18', bce)).toBeNull();
  });

  it('names what differs: another architecture, a changed layer, an extra layer, an MSE head, grey input', () => {
    expect(torchvisionMismatch('resnet34', model())).toBe('it has 51 layers, resnet34 has 91');
    expect(
      torchvisionMismatch(
        'resnet18',
        model((ls) => void ((ls[2] as { padding?: number }).padding = 0)),
      ),
    ).toMatch(/^its layers\.2 is .*"padding":0.*, resnet18 has .*"padding":1/);
    expect(
      torchvisionMismatch(
        'resnet18',
        model((ls) => void (ls[5].name = 'layer1.0.convB')),
      ),
    ).toMatch(/^its layers\.5 is/);
    expect(
      torchvisionMismatch(
        'resnet18',
        model((ls) => void ls.splice(50, 0, { type: 'dropout', rate: 0.1 })),
      ),
    ).toBe('it has 52 layers, resnet18 has 51');
    expect(torchvisionMismatch('resnet18', model(undefined, 'mse'))).toMatch(/not torchvision's bare linear/);
    expect(torchvisionMismatch('resnet18', { ...model(), inputShape: [40, 48, 1] })).toMatch(/3 channels/);
  });

  it('reads the claims from the source, the training.from chain and the config, nearest first', () => {
    const header: JsonObject = {
      training: {
        config: { arch: 'resnet34' },
        from: { file: 'b', from: { file: 'a', source: { format: 'torchvision', arch: 'mobilenet_v2' } } },
        source: { arch: 'resnet18' },
      },
    };
    expect(claimedArchs(header)).toEqual(['resnet18', 'mobilenet_v2', 'resnet34']);
    expect(claimedArchs({ training: { config: { arch: 'cnn' } } })).toEqual([]);
  });
});
