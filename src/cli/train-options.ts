// The `train` command's configuration options: the table behind --help, --config files, model
// files' stored configuration and --resume's checks. src/cli/config.ts resolves them.

import { TTA_CHOICES } from '../engine/tta.js';
import { ACTIVATIONS } from '../nn/activations.js';
import { INITS } from '../nn/init.js';
import { LOSSES } from '../nn/losses.js';
import type { OptionSpec } from './args.js';
import { ARCHS } from './arch.js';
import { TTA_HELP } from './tta.js';

export const DEFAULT_DATA = 'fashion-mnist';

/** Options that describe the run itself (dataset, network, optimisation), saved with the model. */
export const TRAIN_CONFIG_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'data',
    type: 'string',
    arg: 'NAME|PATH',
    default: DEFAULT_DATA,
    help: 'dataset: mnist, fashion-mnist, cifar10, catvnoncat, or a folder (IDX files, or <class>/<image> folders, optionally under train/ and test/)',
  },
  {
    name: 'limit',
    type: 'int',
    arg: 'N',
    min: 1,
    defaultText: 'all',
    help: 'use only the first N training (and test) samples, for quick experiments',
  },
  {
    name: 'memory-budget',
    type: 'string',
    arg: 'SIZE',
    defaultText: 'none',
    help: 'most memory the training images may take on the device (e.g. 512MiB, 2GiB); a larger set (or one over the GPU binding limit) streams to the GPU a batch at a time',
  },
  {
    name: 'image-size',
    type: 'string',
    arg: 'HxW|native',
    default: 'native',
    defaultText:
      "native: the pictures' own size when they all share one, else a square of their median short side, rounded down to a multiple of 8, at most 128",
    help: 'size image-folder pictures are resized to (known datasets keep their own size; the header says which size was chosen and why)',
  },
  {
    name: 'strict',
    type: 'boolean',
    default: false,
    help: 'stop at the first unreadable, truncated, empty or unsupported file in an image folder, instead of skipping it (skipped files are listed in <out>/skipped.txt)',
  },
  {
    name: 'channels',
    type: 'choice',
    choices: ['3', '1'],
    default: '3',
    help: 'colour channels for image folders: 3 (RGB) or 1 (gray)',
  },
  {
    name: 'resize',
    type: 'choice',
    choices: ['resize', 'center-crop'],
    default: 'resize',
    help: 'how image-folder pictures reach --image-size: stretch, or crop the centre to the aspect first',
  },
  {
    name: 'normalize',
    type: 'choice',
    choices: ['standardize', 'scale'],
    default: 'standardize',
    help: 'input normalisation: per-channel mean/std of the training images, or pixel/255',
  },
  {
    name: 'arch',
    type: 'choice',
    choices: [...ARCHS],
    default: 'mlp',
    help: 'network: mlp (dense layers from --layers), lenet (two 5x5 conv layers with pooling, two dense layers), cnn (VGG-style 3x3 conv blocks with batch norm; the last map flattened into the output layer on images of 32 px or less, averaged on larger ones); lenet and cnn need image data',
  },
  {
    name: 'model',
    type: 'string',
    arg: 'FILE',
    defaultText: 'none',
    help: 'JSON file with any layer stack the API accepts, e.g. {"layers": [{"type": "conv2d", "filters": 16, "kernelSize": 3, "activation": "relu"}, {"type": "flatten"}]}; the input shape comes from the data and the output layer is added when missing; overrides --arch',
  },
  {
    name: 'layers',
    type: 'int-list',
    arg: 'N,N,...',
    default: [256, 128],
    help: 'hidden layer sizes; the output layer is added from the number of classes',
  },
  {
    name: 'activation',
    type: 'choice',
    // softmax belongs to the output layer, which the loss chooses.
    choices: ACTIVATIONS.filter((a) => a !== 'softmax'),
    default: 'relu',
    help: 'activation of the hidden layers',
  },
  {
    name: 'loss',
    type: 'choice',
    choices: ['auto', ...LOSSES],
    default: 'auto',
    help: 'loss; auto = bce with one sigmoid output for 2 classes, else softmax-ce',
  },
  {
    name: 'label-smoothing',
    type: 'number',
    arg: 'EPS',
    min: 0,
    default: 0,
    defaultText: '0 (off)',
    help: "softmax-ce only: train on targets (1-EPS)*onehot + EPS/classes, as PyTorch's CrossEntropyLoss(label_smoothing=EPS); EPS in [0, 1), 0.1 is usual; the training loss shown is the smoothed one, validation and test report plain cross-entropy",
  },
  {
    name: 'init',
    type: 'choice',
    choices: ['auto', ...INITS],
    default: 'auto',
    help: "weight initialiser; auto = he-normal for relu-like layers, xavier-normal otherwise; numpy-* = numpy's own draws after np.random.seed(--seed) (the deeplearning.ai course's randn/sqrt(fanIn) and randn*0.01)",
  },
  {
    name: 'optimizer',
    type: 'choice',
    choices: ['adam', 'adamw', 'momentum', 'sgd'],
    default: 'adam',
    help: 'optimizer',
  },
  {
    name: 'lr',
    type: 'number',
    arg: 'X',
    min: 0,
    exclusiveMin: true,
    default: 1e-3,
    defaultText: '0.001; lenet, cnn, --model: 1e-3 x sqrt(batch/32)',
    help: 'learning rate',
  },
  {
    name: 'momentum',
    type: 'number',
    arg: 'X',
    min: 0,
    max: 0.999,
    default: 0.9,
    help: 'momentum coefficient (--optimizer momentum)',
  },
  {
    name: 'weight-decay',
    type: 'number',
    arg: 'X',
    min: 0,
    defaultText: '0 (0.01 for adamw)',
    help: 'L2 penalty (decoupled decay for adamw)',
  },
  {
    name: 'max-norm',
    type: 'number',
    arg: 'X',
    min: 0,
    exclusiveMin: true,
    defaultText: 'off',
    help: 'clip gradients to this global L2 norm',
  },
  {
    name: 'precision',
    type: 'choice',
    choices: ['f32', 'f16', 'auto'],
    default: 'f32',
    help: "storage precision: f32, f16 (mixed precision: f16 weight copies, hidden activations and their gradients, f32 accumulation and master weights, dynamic loss scaling that skips overflowing steps; needs the adapter's shader-f16), or auto (f16 where offered and measured faster)",
  },
  {
    name: 'schedule',
    type: 'choice',
    choices: ['cosine', 'constant', 'step'],
    default: 'cosine',
    help: "learning-rate schedule over the whole run; lenet, cnn and --model runs take any option of --epochs, --batch-size, --lr, --schedule, --warmup not given from a recipe for the data's size, shown in the header",
  },
  {
    name: 'warmup',
    type: 'int',
    arg: 'STEPS',
    min: 0,
    default: 0,
    defaultText: '0; lenet, cnn, --model: 5% of the steps, at most one epoch',
    help: 'linear warm-up steps (--schedule cosine)',
  },
  {
    name: 'step-epochs',
    type: 'int',
    arg: 'N',
    min: 1,
    default: 5,
    help: 'multiply the rate by --gamma every N epochs (--schedule step)',
  },
  {
    name: 'gamma',
    type: 'number',
    arg: 'X',
    min: 0,
    exclusiveMin: true,
    max: 1,
    default: 0.1,
    help: 'decay factor (--schedule step)',
  },
  {
    name: 'batch-size',
    type: 'int',
    arg: 'N',
    min: 1,
    default: 128,
    defaultText: '128; lenet, cnn, --model: 32 under 2,000 samples, 64 under 20,000, else 128',
    help: 'samples per step',
  },
  {
    name: 'epochs',
    type: 'int',
    arg: 'N',
    min: 1,
    default: 5,
    defaultText: '5; lenet, cnn, --model: 30 under 20,000 samples, else 12',
    help: 'passes over the training data',
  },
  {
    name: 'seed',
    type: 'int',
    arg: 'N',
    min: 0,
    default: 1,
    help: 'seed for initialisation, split and shuffling',
  },
  {
    name: 'augment',
    type: 'string',
    arg: 'LIST|none',
    default: 'none',
    help: 'augment training batches on the GPU (never validation or test): crop (pad 4 and crop back; crop:N pads N; crop-reflect[:N] mirrors the border), flip (horizontal, half the time), jitter (brightness and contrast +-20%), comma-separated',
  },
  {
    name: 'validation',
    type: 'string',
    arg: 'F|test|none',
    default: '0.1',
    help: 'after each epoch, validate on a held-out fraction F of the training data, on the test split, or not at all',
  },
  { name: 'tta', type: 'choice', choices: TTA_CHOICES, default: 'auto', help: TTA_HELP },
];

/** Every option name of the table. */
export const CONFIG_OPTION_NAMES: ReadonlySet<string> = new Set(TRAIN_CONFIG_OPTIONS.map((s) => s.name));
