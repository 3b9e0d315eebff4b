// The dispatch lists of a plan (plan.ts) for one frozen set (src/engine/freeze.ts): the forward
// pass, the backward pass and the update. The plan's buffers (X, Z, A, the gradient buffers
// placed for the full backward pass) do not depend on what is frozen, so a plan keeps them and
// prepares these lists again when the frozen set changes; the feeds bound to its X stay valid.
//
// With a frozen set, only the layers whose gradient is needed (gradientNeeded) run backward: the
// full gradient schedule is filtered, never rebuilt, so the buffer placement stays a superset of
// what the filtered schedule uses. A kept layer whose input comes from a layer that needs no
// gradient writes no input gradient (LayerIO.dIn absent, as for a first layer). Frozen layers are
// prepared as an inference plan prepares them (no backward pipelines), and a frozen batch norm's
// training forward is its evaluation forward. The optimizer runs over the trainable stretches of
// the flat parameters only (one dispatch each; one in all when nothing is frozen).

import { prepareCastWeights, type LossScaler } from '../kernels/amp.js';
import { halfView, view, type Dispatch, type KernelEnv, type TensorView } from '../kernels/common.js';
import { prepareJoinCopy } from '../kernels/join.js';
import type { OptimizerDispatch } from '../kernels/optim.js';
import type { LayerType } from '../nn/layers.js';
import type { ResolvedOptimizer } from '../optim/optimizers.js';
import { gradientNeeded, trainableRanges } from './freeze.js';
import { LAYER_MODULES } from './layers/index.js';
import type { LayerIO, PlanContext } from './layers/types.js';
import type { GradEvent, GradSchedule } from './plan-graph.js';
import { updateSection, type ModelBuffers, type PlanMemory } from './plan-sections.js';

/** What the step lists are prepared from: the plan's tensors and its full gradient schedule. */
export interface StepParts {
  env: KernelEnv;
  ctx: PlanContext;
  mem: PlanMemory;
  model: ModelBuffers;
  opt: ResolvedOptimizer;
  scaler: LossScaler | undefined;
  /** Each layer's tensors, with the input gradient of the full backward pass. */
  ios: readonly LayerIO[];
  castPairs: readonly [TensorView, TensorView][];
  schedule: GradSchedule;
  /** Gradient tensors by layer (G) and the schedule's temporaries. */
  grads: { g: TensorView[]; temps: TensorView[] };
}

/** The optimizer's hyper-parameter writer: one call sets the rate and step of every dispatch. */
export interface HyperWriter {
  writeHyper(queue: GPUQueue, lr: number, t: number): void;
}

export interface PlanSteps {
  forward: Dispatch[];
  forwardEval: Dispatch[];
  backward: Dispatch[];
  update: Dispatch[];
  optimizer: HyperWriter;
  /** The optimizer dispatches' own uniforms (released when the lists are prepared again). */
  hypers: GPUBuffer[];
}

/**
 * A plan's memory for dispatch lists prepared more than once: the k-th request under a label
 * gets the buffer the k-th request under that label got last time, when it is large enough, so
 * preparing again allocates nothing new. `restart` begins a new preparation.
 */
export function recyclingMemory(mem: PlanMemory): PlanMemory & { restart(): void } {
  const made = new Map<string, TensorView[]>();
  const seen = new Map<string, number>();
  const alloc = (n: number, label: string): TensorView => {
    const k = seen.get(label) ?? 0;
    seen.set(label, k + 1);
    const list = made.get(label) ?? [];
    made.set(label, list);
    const old = list[k];
    if (old && old.buffer.size >= Math.max(1, n) * 4) return view(old.buffer, n);
    const v = mem.alloc(n, label);
    list[k] = v;
    return v;
  };
  const r = {
    get owned() {
      return mem.owned;
    },
    get bytes() {
      return mem.bytes;
    },
    alloc,
    allocHalf: (n: number, label: string) => halfView(alloc(Math.max(4, Math.ceil(n / 2)), label).buffer, n),
    restart: () => seen.clear(),
  };
  return r;
}

/** The step lists for `frozen` (undefined: nothing frozen). */
export async function prepareSteps(p: StepParts, frozen: readonly boolean[] | undefined): Promise<PlanSteps> {
  const m = p.model.model;
  const L = m.layers.length;
  const none = new Array<boolean>(L).fill(false);
  const isFrozen = frozen ?? none;
  const need = p.ctx.inference ? none : gradientNeeded(m, isFrozen);
  const events = p.ctx.inference ? [] : filterEvents(p.schedule, need, L);
  const dInOf = new Map<number, number | undefined>();
  for (const e of events) if (e.kind === 'backward') dInOf.set(e.layer, e.dIn);
  const ios = p.ios.map((io, l) => ({ ...io, dIn: dInOf.get(l) === undefined ? undefined : io.dIn }));
  const ctxOf = (l: number): PlanContext => (need[l] ? p.ctx : { ...p.ctx, inference: true });

  let scratchLength = 0;
  for (const io of ios) {
    if (io.layer.type === 'flatten') continue;
    const mod = LAYER_MODULES[io.layer.type];
    if (mod.scratchLength)
      scratchLength = Math.max(scratchLength, await mod.scratchLength(ctxOf(io.layer.index), io));
  }
  const scratchView = scratchLength > 0 ? p.mem.alloc(scratchLength, 'conv-scratch') : undefined;
  p.ctx.scratch = () => scratchView;

  const casts: Dispatch[] = [];
  for (const [src, dst] of p.castPairs) casts.push(await prepareCastWeights(p.env, { src, dst }));
  const forward: Dispatch[] = [...casts];
  const forwardEval: Dispatch[] = [...casts];
  const backwardOf: Dispatch[][] = ios.map(() => []);
  for (const l of m.order) {
    const io = ios[l];
    if (io.layer.type === 'flatten') continue;
    const d = await LAYER_MODULES[io.layer.type].prepare(ctxOf(l), io);
    // A frozen batch norm trains in evaluation mode (running statistics, left unchanged).
    forward.push(...(isFrozen[l] && io.layer.type === 'batchnorm' ? d.forwardEval : d.forward));
    forwardEval.push(...d.forwardEval);
    backwardOf[l] = d.backward;
  }
  const backward = await backwardList(p, ios, events, backwardOf);
  if (p.ctx.inference) return { forward, forwardEval, backward, update: [], optimizer: noHyper, hypers: [] };
  const ranges = trainableRanges(m, isFrozen);
  const { update, optimizers } = await updateSection(p.env, p.mem, p.model, p.opt, p.scaler, ranges);
  return {
    forward,
    forwardEval,
    backward,
    update,
    optimizer: hyperWriter(optimizers),
    hypers: optimizers.map((o) => o.hyper),
  };
}

const noHyper: HyperWriter = { writeHyper: () => undefined };

function hyperWriter(list: readonly OptimizerDispatch[]): HyperWriter {
  return { writeHyper: (queue, lr, t) => list.forEach((o) => o.writeHyper(queue, lr, t)) };
}

/**
 * The full schedule restricted to the layers whose gradient is needed: their backward events
 * (with no input gradient where the input's source needs none), and the sums and join gradients
 * into them. Every reader of a layer that needs its gradient needs its own, so nothing a kept
 * event reads is dropped.
 */
function filterEvents(s: GradSchedule, need: readonly boolean[], L: number): GradEvent[] {
  const layerOf = (id: number): number => (id < L ? id : s.temps[id - L]);
  const out: GradEvent[] = [];
  for (const e of s.events) {
    if (e.kind === 'backward') {
      if (!need[e.layer]) continue;
      const dIn = e.dIn !== undefined && need[layerOf(e.dIn)] ? e.dIn : undefined;
      out.push({ ...e, dIn });
    } else if (need[e.target]) out.push(e);
  }
  return out;
}

async function backwardList(
  p: StepParts,
  ios: readonly LayerIO[],
  events: readonly GradEvent[],
  backwardOf: readonly Dispatch[][],
): Promise<Dispatch[]> {
  const { env, ctx, grads } = p;
  const backward: Dispatch[] = [];
  const L = ios.length;
  for (const e of events) {
    if (e.kind === 'backward') backward.push(...backwardOf[e.layer]);
    else if (e.kind === 'sum') {
      const target = grads.g[e.target];
      const n = target.length;
      const flat = { rows: 1, cols: n, srcStride: n, srcOffset: 0, dstStride: n, dstOffset: 0 };
      backward.push(
        await prepareJoinCopy(env, { ...flat, src: grads.temps[e.temp - L], dst: target, accumulate: true }),
      );
    } else {
      const src = ios[e.target].layer;
      const join = ios[e.join];
      const mod = LAYER_MODULES[join.layer.type as Exclude<LayerType, 'flatten'>];
      backward.push(
        await mod.joinGrad!(ctx, join, {
          k: e.k,
          dX: grads.g[e.target],
          activation: src.activation,
          alpha: src.alpha,
          aux: src.activation === 'identity' ? undefined : ios[e.target].z,
          accumulate: e.accumulate,
        }),
      );
    }
  }
  return backward;
}
