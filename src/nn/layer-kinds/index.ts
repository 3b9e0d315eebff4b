// The register of layer types: one module per type, one line each. Shape inference, the one-line
// description and the train/eval distinction all come from here. The Record type makes the
// compiler refuse a LAYER_TYPES name without a module, and a module for a name not in LAYER_TYPES.

import type { LayerType } from '../layer-types.js';
import { batchnorm } from './batchnorm.js';
import { conv2d } from './conv2d.js';
import { dense } from './dense.js';
import { add, concat } from './join.js';
import type { LayerKind } from './kind.js';
import { layernorm } from './layernorm.js';
import { avgpool2d, globalavgpool, maxpool2d } from './pool.js';
import { dropout, flatten } from './shape-only.js';

export const LAYER_KINDS: Readonly<Record<LayerType, LayerKind>> = {
  dense,
  conv2d,
  maxpool2d,
  avgpool2d,
  globalavgpool,
  batchnorm,
  dropout,
  flatten,
  add,
  concat,
  layernorm,
};

export type { LayerKind, ResolveContext } from './kind.js';
