// The messages between the fine-tuning page (finetune/main.ts, which only renders) and its worker
// (finetune/worker.ts, which owns the GPU device, the backbone, the pictures and the trainer).
// Requests carry an id and are answered once; training progress comes as events. Files travel
// as File objects (structured clone shares the blob, it does not copy it on the main thread).

import type { ErrorInfo, GpuStatus } from '../protocol.js';

export type { ErrorInfo, GpuStatus };

/** The backbone as loaded: what the page shows about it. */
export interface BackboneSummary {
  fileName: string;
  /** "torchvision mobilenet_v2 (imported from mobilenet_v2.pth)" or "engine model file". */
  source: string;
  layers: number;
  parameters: number;
  /** The file's own classes (1000 for an ImageNet backbone). */
  classes: number;
  normalization: string;
}

/** The imported backbone's eval logits against a PyTorch reference batch (x, logits_eval). */
export interface ParityReport {
  rows: number;
  classes: number;
  shape: [number, number, number];
  /** Largest difference of the log-softmax, centred per row (softmax ignores a row's shift). */
  maxDiff: number;
  /** max - min of PyTorch's logits: the scale the difference is judged against. */
  range: number;
}

/** Pictures of one class as the user gave them. */
export interface ClassFiles {
  name: string;
  files: File[];
}

export interface TuneConfig {
  /** Side of the square the pictures are resized to. */
  side: number;
  steps: number;
  batchSize: number;
  lr: number;
  seed: number;
}

export interface TuneSummary {
  classNames: string[];
  counts: number[];
  /** Pictures that did not decode, with why. */
  bad: { name: string; reason: string }[];
  trainable: number;
  frozen: number;
}

export type FtRequest =
  | { op: 'init' }
  | { op: 'load-backbone'; file: File }
  | { op: 'check-reference'; file: File }
  | { op: 'train'; classes: ClassFiles[]; cfg: TuneConfig }
  | { op: 'stop' }
  | { op: 'classify'; file: Blob }
  | { op: 'save' };

export interface FtReplies {
  init: GpuStatus;
  'load-backbone': BackboneSummary;
  'check-reference': ParityReport;
  train: TuneSummary;
  stop: void;
  classify: { probs: number[]; classNames: string[] };
  save: { bytes: Uint8Array; fileName: string };
}

export type FtEvent =
  | { event: 'progress'; text: string }
  | { event: 'step'; step: number; steps: number; loss: number; accuracy: number; samplesPerSecond: number };
