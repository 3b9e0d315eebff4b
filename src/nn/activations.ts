// Activation names and their kernel ids (shaders/activation_fns.wgsl). The maths lives in the
// WGSL and, independently, in src/reference/activations.ts. Ids are appended, never renumbered
// (softmax keeps 6), so a new activation changes no existing pipeline's constants.

export const ACTIVATIONS = [
  'identity',
  'relu',
  'leaky_relu',
  'sigmoid',
  'tanh',
  'gelu',
  'relu6',
  'hardswish',
  'softmax',
] as const;
export type Activation = (typeof ACTIVATIONS)[number];

export const ACTIVATION_IDS: Readonly<Record<Activation, number>> = {
  identity: 0,
  relu: 1,
  leaky_relu: 2,
  sigmoid: 3,
  tanh: 4,
  gelu: 5,
  softmax: 6,
  relu6: 7,
  hardswish: 8,
};

export function isActivation(s: string): s is Activation {
  return (ACTIVATIONS as readonly string[]).includes(s);
}
