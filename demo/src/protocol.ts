// The messages between the page (main.ts, which only renders) and the training worker
// (worker.ts, which owns the GPU device, the datasets and the network). Requests carry an id and
// are answered once ({id, ok, value} or {id, error}); training progress comes as events.
// Everything here survives structured cloning; big arrays are transferred, never copied.

import type { LayerSpec } from '../../src/index.js';
import type { NetConfig } from './network.js';
import type { RunState } from './session.js';

export interface GpuStatus {
  adapter?: { name: string; software: boolean };
  /** Why there is no device, with what to do (see gpu.ts). */
  help?: string;
}

export interface BadFile {
  name: string;
  reason: string;
}

/** What the page needs to show a dataset: shapes, counts, and a few images to draw. */
export interface DataSummary {
  id: string;
  title: string;
  classNames: string[];
  shape: [number, number, number];
  trainCount: number;
  testCount: number;
  /** Training images per class. */
  counts: number[];
  stats: string;
  /** The first 64 training images as a grid, drawn in the worker (320x320). */
  sampleGrid: ImageBitmap;
  /** The first test images, for the prediction grid (GridItem.index points here). */
  testImages: Uint8Array;
  testImageCount: number;
  /** Files of a picked folder that were skipped, with why. */
  bad: BadFile[];
}

export interface ModelSummary {
  layers: LayerSpec[];
  inputShape: [number, number, number];
  loss: string;
  parameterCount: number;
  classNames: string[];
  origin: string;
  /** One line per layer: type, output shape, parameters. */
  lines: string[];
}

export interface GridItem {
  index: number;
  label: number;
  predicted: number;
  prob: number;
}

/** The first weighted layer drawn as images (400x400): dense rows or conv filters, each [h, w, c]. */
export interface FirstLayer {
  kind: 'dense' | 'conv2d';
  picture: ImageBitmap;
  units: number;
  shape: { height: number; width: number; channels: number };
}

export interface ModelView {
  firstLayer?: FirstLayer;
  report?: { accuracy: number; count: number; confusion: Uint32Array; items: GridItem[] };
}

export interface FolderFile {
  file: File;
  /** Path below the dropped or picked folder, its own name first ("flowers/rose/a.jpg"). */
  path: string;
}

export type Request =
  | { op: 'init' }
  | { op: 'load-url'; dataset: string; base: string }
  | { op: 'load-files'; dataset: string; files: File[] }
  | { op: 'load-folder'; files: FolderFile[]; shape: [number, number, number] }
  | { op: 'train'; cfg: NetConfig; trainLimit: number; testLimit: number }
  /** Trains the current model further on the loaded data (from its weights; a new optimizer). */
  | { op: 'continue'; cfg: NetConfig; trainLimit: number; testLimit: number }
  | { op: 'pause' }
  | { op: 'resume' }
  | { op: 'stop' }
  | { op: 'restart' }
  | { op: 'simulate-loss' }
  | { op: 'save' }
  | { op: 'view'; testLimit: number }
  | { op: 'predict'; pixels: Uint8Array }
  | { op: 'classify'; file: File }
  | { op: 'load-model'; bytes: Uint8Array; name: string; cfg: NetConfig };

export interface Replies {
  init: GpuStatus;
  'load-url': DataSummary;
  'load-files': DataSummary;
  'load-folder': DataSummary;
  train: ModelSummary;
  continue: ModelSummary;
  pause: void;
  resume: void;
  stop: void;
  restart: void;
  'simulate-loss': void;
  save: { bytes: Uint8Array; fileName: string };
  view: ModelView;
  /** undefined when there is no model for a 28x28x1 drawing. */
  predict: number[] | undefined;
  classify: { probs: number[]; classNames: string[] };
  'load-model': ModelSummary;
}

export type Envelope = Request & { id: number };

export interface ErrorInfo {
  name: string;
  message: string;
}

export type WorkerEvent =
  | { event: 'reply'; id: number; value: unknown }
  | { event: 'fail'; id: number; error: ErrorInfo }
  | { event: 'progress'; text: string }
  | { event: 'step'; step: number; loss: number; accuracy: number; rate: number }
  | {
      event: 'epoch';
      step: number;
      epoch: number;
      valLoss?: number;
      valAccuracy?: number;
      seconds: number;
      samplesPerSecond: number;
      view: ModelView;
    }
  | { event: 'state'; state: RunState; step: number; error?: ErrorInfo };
