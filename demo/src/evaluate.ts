// The test set through the current network: accuracy, confusion counts and the first images with
// their predicted class and probability.

import type { ImageSet } from '../../src/index.js';
import { argmax, classProbs, outputCount } from './network.js';
import type { GridItem } from './protocol.js';
import type { Session } from './session.js';

export interface TestReport {
  accuracy: number;
  count: number;
  /** confusion[true * K + predicted]. */
  confusion: Uint32Array;
  items: GridItem[];
}

export async function evaluateTest(session: Session, test: ImageSet, gridSize = 24): Promise<TestReport> {
  const data = session.data(test.images, test.labels, test.count);
  const t = session.trainer;
  try {
    const out = await t.predict(data);
    const outputs = outputCount(session.meta.spec);
    const K = outputs === 1 ? 2 : outputs;
    const confusion = new Uint32Array(K * K);
    const items: GridItem[] = [];
    let right = 0;
    for (let i = 0; i < test.count; i++) {
      const probs = classProbs(out, i * outputs, outputs);
      const predicted = argmax(probs);
      const label = test.labels[i];
      confusion[label * K + predicted]++;
      if (predicted === label) right++;
      if (i < gridSize) items.push({ index: i, label, predicted, prob: probs[predicted] });
    }
    return { accuracy: right / test.count, count: test.count, confusion, items };
  } finally {
    t.forget(data);
  }
}
