// A graph model (layers that name their inputs, add, concat) as the nn.Module model.py defines:
//   class Net(nn.Module):
//       __init__: self.layers = nn.ModuleList([...]), entry i the module of architecture.layers[i],
//                 so the state_dict keys are the model file's own names (layers.{i}.weight ...);
//                 add and concat hold nothing and are nn.Identity() placeholders.
//       forward:  the layers in the engine's execution order (ResolvedModel.order), h{i} the
//                 output of layer i, x the input; add sums its inputs, concat is torch.cat along
//                 dim 1 (the channels of NCHW maps, or the features of flat inputs, as the engine's
//                 last axis); the activation follows as a function call; an output is deleted
//                 after its last reader. A conv whose 'same' padding is odd pads with F.pad first.

import type { ResolvedModel } from '../nn/layers.js';
import { activationCall, layerText, tuple, type LayerTorch, type TorchModule } from './torch-layers.js';

const INPUT = 'x';
const value = (p: number): string => (p < 0 ? INPUT : `h${p}`);

/** "layers.2 'sum' (reads layers.0, layers.1): add 2 relu  [8, 4, 4] + [8, 4, 4] -> [8, 4, 4]". */
function graphComment(model: ResolvedModel, i: number): string {
  const l = model.layers[i];
  const reads = l.inputs.map((p) => (p < 0 ? 'input' : `layers.${p}`)).join(', ');
  const name = l.name === undefined ? '' : ` '${l.name}'`;
  return `layers.${i}${name} (reads ${reads}): ${layerText(l)}`;
}

/** forward()'s statements for layer i. */
function layerCall(model: ResolvedModel, t: LayerTorch, i: number): string {
  const l = model.layers[i];
  const ins = l.inputs.map(value);
  let e: string;
  if (l.type === 'add') e = ins.join(' + ');
  else if (l.type === 'concat') e = `torch.cat((${ins.join(', ')}), dim=1)`;
  else if (t.after.length > 0) e = `layers[${i}](${ins[0]})`;
  else e = `layers[${i}](${t.pad ? `F.pad(${ins[0]}, ${tuple(t.pad)})` : ins[0]})`;
  return `h${i} = ${activationCall(t.activation, t.alpha, e)}`;
}

/**
 * Fills `modules` with the ModuleList's entries (one per layer) and returns the state_dict names
 * (the file's own) and forward()'s body. `flattenInput` is the expression that flattens an image
 * input a dense first layer reads (a version 1 style input), or null.
 */
export function graphModules(
  model: ResolvedModel,
  forms: readonly LayerTorch[],
  modules: TorchModule[],
  flattenInput: string | null,
): { stateNames: [string, string][]; forward: string[] } {
  const stateNames: [string, string][] = [];
  model.layers.forEach((l, i) => {
    const t = forms[i];
    const code =
      t.main === null
        ? 'nn.Identity()'
        : t.after.length > 0
          ? `nn.Sequential(${[t.main, ...t.after].join(', ')})`
          : t.main;
    modules.push({ code, comment: graphComment(model, i) });
    for (const n of t.tensors) stateNames.push([`layers.${i}.${n}`, `layers.${i}.${n}`]);
  });
  // When each output is read for the last time (execution position), to free it right after.
  const lastRead = new Map<number, number>();
  model.order.forEach((i, at) => {
    for (const p of model.layers[i].inputs) if (p >= 0) lastRead.set(p, at);
  });
  const forward = ['layers = self.layers'];
  if (flattenInput)
    forward.push(`${INPUT} = ${flattenInput}  # the engine reads the image as (h, w, c) features`);
  model.order.forEach((i, at) => {
    forward.push(layerCall(model, forms[i], i));
    const dead = [...new Set(model.layers[i].inputs)].filter((p) => p >= 0 && lastRead.get(p) === at);
    if (dead.length > 0) forward.push(`del ${dead.map(value).join(', ')}`);
  });
  forward.push(`return ${value(model.layers.length - 1)}`);
  return { stateNames, forward };
}

/** The Net class of model.py. */
export function netClassSource(modules: readonly TorchModule[], forward: readonly string[]): string[] {
  return [
    'class Net(nn.Module):',
    '    """The engine\'s graph: layers[i] is the model file\'s layers.{i} (add and concat are joined in',
    '    forward and hold nn.Identity() places); forward runs the layers in the engine\'s order."""',
    '',
    '    def __init__(self) -> None:',
    '        super().__init__()',
    '        self.layers = nn.ModuleList(',
    '            [',
    ...modules.flatMap((m) => [
      ...(m.comment ? [`                # ${m.comment}`] : []),
      `                ${m.code},`,
    ]),
    '            ]',
    '        )',
    '',
    '    def forward(self, x: torch.Tensor) -> torch.Tensor:',
    ...forward.map((line) => `        ${line}`),
  ];
}
