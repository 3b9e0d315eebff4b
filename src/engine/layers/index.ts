// The layer modules by type; the plan composes them. flatten has none: it moves no data, so its
// output and gradient are the views of its input (see plan.ts).

import type { LayerType } from '../../nn/layers.js';
import { batchNormLayer } from './batchnorm.js';
import { conv2dLayer } from './conv2d.js';
import { denseLayer } from './dense.js';
import { dropoutLayer } from './dropout.js';
import { addLayer, concatLayer } from './join.js';
import { layerNormLayer } from './layernorm.js';
import { avgPoolLayer, globalAvgPoolLayer, maxPoolLayer } from './pool.js';
import type { LayerModule } from './types.js';

export const LAYER_MODULES: Readonly<Record<Exclude<LayerType, 'flatten'>, LayerModule>> = {
  dense: denseLayer,
  conv2d: conv2dLayer,
  maxpool2d: maxPoolLayer,
  avgpool2d: avgPoolLayer,
  globalavgpool: globalAvgPoolLayer,
  batchnorm: batchNormLayer,
  dropout: dropoutLayer,
  add: addLayer,
  concat: concatLayer,
  layernorm: layerNormLayer,
};

export type { JoinGradTarget, LayerModule, LayerIO, LayerDispatches, PlanContext } from './types.js';
