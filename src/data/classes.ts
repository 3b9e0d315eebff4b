// Class names between a model and the data it is evaluated on: labels are renumbered by name, so a
// folder holding a subset of the model's classes, in any order, is scored against the right outputs.

import { ClassMismatchError } from '../errors.js';

/**
 * Labels of data whose classes are `dataNames`, renumbered into the model's `modelNames` by name.
 * Returns the labels unchanged when the names agree or when `named` is false (the data's names are
 * made-up numbers, as for IDX folders). A data class the model does not know is a
 * ClassMismatchError whose message starts with `what` (the data's name).
 */
export function matchClasses(
  labels: Int32Array,
  dataNames: string[],
  modelNames: string[],
  named: boolean,
  what: string,
): Int32Array {
  if (!named || dataNames.join('\n') === modelNames.join('\n')) return labels;
  const index = new Map(modelNames.map((n, i) => [n, i]));
  const missing = dataNames.filter((n) => !index.has(n));
  if (missing.length > 0) {
    const list = (a: string[]) => (a.length > 8 ? [...a.slice(0, 8), '...'] : a).join(', ');
    throw new ClassMismatchError(
      `${what}: class${missing.length > 1 ? 'es' : ''} ${list(missing)} ${missing.length > 1 ? 'are' : 'is'} not among the model's classes (${list(modelNames)}); evaluate data with the model's class folders`,
    );
  }
  const map = dataNames.map((n) => index.get(n)!);
  return labels.map((l) => map[l]);
}
