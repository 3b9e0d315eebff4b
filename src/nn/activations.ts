// Activation names and their kernel ids (shaders/activation_fns.wgsl). The maths lives in the
// WGSL and, independently, in src/reference/activations.ts.

export const ACTIVATIONS = ['identity', 'relu', 'leaky_relu', 'sigmoid', 'tanh', 'gelu', 'softmax'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

export const ACTIVATION_IDS: Readonly<Record<Activation, number>> = {
  identity: 0,
  relu: 1,
  leaky_relu: 2,
  sigmoid: 3,
  tanh: 4,
  gelu: 5,
  softmax: 6,
};

export function isActivation(s: string): s is Activation {
  return (ACTIVATIONS as readonly string[]).includes(s);
}
