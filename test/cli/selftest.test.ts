// `webgpu-trainer selftest` on the test adapter: every registered family reports rows and all
// pass; --json carries the same rows; a corrupted GPU result (runSelftest's test-only
// injectFault option, which the command never sets) fails exactly the rows it touches and the
// command's output and exit code say so; an unwritten (NaN) element or a wrong length can never
// pass the comparison.

import { describe, expect, it } from 'vitest';
import { selftestOutput } from '../../src/cli/selftest.js';
import { allclose } from '../../src/selftest/harness.js';
import { FAMILIES, runSelftest, type SelftestReport } from '../../src/selftest/run.js';
import { DEFAULT_VARIANT } from '../../src/kernels/matmul.js';
import { testGpu } from '../helpers/gpu.js';
import { ACTIVATIONS } from '../../src/nn/activations.js';
import { LOSSES } from '../../src/nn/losses.js';
import { OPTIMIZERS } from '../../src/optim/optimizers.js';
import { runCli } from './helpers.js';

describe('selftest', () => {
  it('checks every kernel family against the reference and prints the adapter and a table', async () => {
    const t0 = performance.now();
    const r = await runCli(['selftest']);
    const seconds = (performance.now() - t0) / 1000;
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/^adapter +\S/m);
    expect(r.out).toMatch(/^variants +\S+.*reg-8x8/m);
    expect(r.out).toMatch(/^kernel +variant +shape +max error +tolerance +result$/m);
    for (const form of ['forward + relu', 'weightGrad', 'inputGrad + relu'])
      expect(r.out).toMatch(
        new RegExp(`^matmul ${form.replace('+', '\\+')} +\\S+ +B45 K65 N33 .* pass$`, 'm'),
      );
    for (const act of ACTIVATIONS)
      expect(r.out).toMatch(new RegExp(`^activation ${act}\\S* backward .* pass$`, 'm'));
    for (const loss of LOSSES) expect(r.out).toMatch(new RegExp(`^loss ${loss} grad .* pass$`, 'm'));
    for (const opt of OPTIMIZERS)
      expect(r.out).toMatch(new RegExp(`^optimizer ${opt}\\b.* params .* pass$`, 'm'));
    expect(r.out).toMatch(/^bias_grad .* pass$/m);
    expect(r.out).toMatch(/^clip \(norm, scale\) .* pass$/m);
    for (const k of [
      'maxpool forward',
      "maxpool backward \\* relu'",
      'avgpool forward',
      'batchnorm backward dX',
      'layernorm forward z',
      "layernorm backward dX \\* tanh'",
      'layernorm backward dGamma',
      'conv2d forward',
      'conv2d weightGrad',
      'conv2d biasGrad',
      "conv2d inputGrad \\* tanh'",
      'dropout mask',
      'dropout backward',
    ])
      expect(r.out).toMatch(new RegExp(`^${k} .* pass$`, 'm'));
    // Mixed precision rows on adapters with shader-f16 (lavapipe, CI's adapter).
    if (/shader-f16/.test((await runCli(['info', '--json'])).out)) {
      for (const k of ['f16 matmul forward', 'f16 matmul inputGrad', 'f16 cast_weights', 'f16 amp_unscale'])
        expect(r.out).toMatch(new RegExp(`^${k} .* pass$`, 'm'));
    }
    expect(r.out).not.toMatch(/FAIL/);
    expect(r.out).toMatch(/^all \d+ checks passed in [\d.]+ s$/m);
    // The bar is a minute on lavapipe; run alone it takes ~15 s with start-up. Here it shares two
    // cores with the other test files and agents (measured up to 59 s), hence the margin.
    expect(seconds).toBeLessThan(120);
  });

  it('--json gives the same rows, one per comparison, with the tolerance of each', async () => {
    const r = await runCli(['selftest', '--json']);
    expect(r.code, r.err).toBe(0);
    const report = JSON.parse(r.out) as SelftestReport & { ok: boolean };
    expect(report.ok).toBe(true);
    expect(report.failed).toBe(0);
    expect(report.adapter.name).not.toBe('');
    expect(report.variants).toContain('reg-8x8');
    expect(report.passed).toBe(report.results.length);
    const families = new Set(report.results.map((x) => x.kernel.split(' ')[0]));
    const half = report.results.some((x) => x.kernel.startsWith('f16 '));
    expect([...families].filter((f) => f !== 'f16').sort()).toEqual([
      'activation',
      'avgpool',
      'batchnorm',
      'bias_grad',
      'clip',
      'conv2d',
      'dropout',
      'layernorm',
      'loss',
      'matmul',
      'maxpool',
      'optimizer',
    ]);
    expect(FAMILIES.map((f) => f.name)).toEqual([
      'matmul',
      'activations',
      'losses',
      'reduce',
      'optimizers',
      'conv2d',
      'pooling',
      'batchnorm',
      'layernorm',
      'dropout',
      'f16',
    ]);
    // lavapipe (CI's adapter) has shader-f16: the mixed-precision rows must be there.
    if (report.adapter.kind === 'lavapipe') expect(half).toBe(true);
    for (const row of report.results) {
      expect(row.pass).toBe(true);
      expect(Number.isFinite(row.maxError)).toBe(true);
    }
  });

  it('a wrong GPU result fails its rows and the exit code', async () => {
    const { gpu } = await testGpu();
    const report = await runSelftest(gpu, [DEFAULT_VARIANT], { injectFault: 'matmul weightGrad' });
    const { text: out, code } = selftestOutput(report, 'test', false);
    expect(code).toBe(1);
    const failed = out.split('\n').filter((l) => / FAIL$/.test(l));
    expect(failed.length).toBeGreaterThan(0);
    for (const l of failed) expect(l).toMatch(/^matmul weightGrad /);
    expect(out).toMatch(/^FAIL matmul weightGrad \S+ B1 K1 N1: 1\/1 outside tolerance: \[0\] got /m);
    expect(out).toMatch(new RegExp(`^${failed.length} of \\d+ checks FAILED in`, 'm'));
    expect(out).toMatch(/^matmul forward \+ relu .* pass$/m);
  });

  it('an unwritten (NaN) element, an extra ulp past tolerance or a wrong length fails', () => {
    const tol = { atol: 1e-6, rtol: 0, l2: 1 };
    expect(allclose([1, 2, 3], [1, 2, 3], tol).pass).toBe(true);
    const nan = allclose([1, NaN, 3], [1, 2, 3], tol);
    expect(nan.pass).toBe(false);
    expect(nan.maxError).toBe(Infinity);
    expect(nan.detail).toMatch(/\[1\] got NaN, expected 2/);
    expect(allclose([1, 2 + 2e-6, 3], [1, 2, 3], tol).pass).toBe(false);
    expect(allclose([1, 2], [1, 2, 3], tol).pass).toBe(false);
  });

  it('a family that gives no result in its time budget fails the run and names it', async () => {
    const { gpu } = await testGpu();
    const report = await runSelftest(gpu, [DEFAULT_VARIANT], {
      families: ['optimizers', 'losses'],
      familyTimeoutMs: 1,
    });
    expect(report.failed).toBe(1);
    const last = report.results[report.results.length - 1];
    expect(last.kernel).toBe('losses (timed out)');
    expect(last.pass).toBe(false);
    expect(last.detail).toMatch(/no result within 0.001 s .* later families were not run/);
  });
});
