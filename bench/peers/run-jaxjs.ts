// jax-js peer benchmark: the workloads of `npm run bench` (matmul 1024 with readback, A with SGD
// and with Adam, B, the CNNs D and E) trained by jax-js on its webgpu and wasm backends, each
// backend in a process of its own. bench/run.ts runs this script as its jax-js participant.
//
//   npx tsx bench/peers/run-jaxjs.ts [--backends=webgpu,wasm] [--only=matmul,A-sgd,A-adam,B,D,E]
//                                    [--quick] [--json=out.json]
//
// WebGPU needs an adapter: without a GPU, Dawn runs on Mesa lavapipe (set XDG_RUNTIME_DIR=/tmp;
// jaxjs.ts falls back to lavapipe's ICD when Dawn finds nothing). With one backend the workloads
// run in this process; with several, this script starts itself once per backend. Exits 1 when a
// loss did not fall or a workload could not run.

import { writeFileSync } from 'node:fs';

import {
  describeJaxjsRow,
  JAXJS_BACKENDS,
  JAXJS_KEYS,
  runJaxjsWorkload,
  spawnJaxjs,
  type JaxjsKey,
  type JaxjsReport,
} from './jaxjs-bench.js';
import { initJaxjs, jaxjsVersion, jaxjsWebgpuAdapter, JaxPeerConfigError, type JaxBackend } from './jaxjs.js';

function arg(name: string): string | undefined {
  const prefix = `--${name}=`;
  return process.argv.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}

const backends = (arg('backends') ?? JAXJS_BACKENDS.join(',')).split(',') as JaxBackend[];
const keys = (arg('only') ?? JAXJS_KEYS.join(',')).split(',') as JaxjsKey[];
const quick = process.argv.includes('--quick');
const jsonPath = arg('json');
for (const b of backends)
  if (!JAXJS_BACKENDS.includes(b))
    throw new JaxPeerConfigError(`unknown jax-js backend '${b}'; use ${JAXJS_BACKENDS.join(', ')}`);
for (const k of keys)
  if (!(JAXJS_KEYS as readonly string[]).includes(k))
    throw new JaxPeerConfigError(`unknown workload '${k}'; use ${JAXJS_KEYS.join(', ')}`);

const failed = (r: JaxjsReport) =>
  Object.values(r.rows).some((row) => row.kind === 'error' || (row.kind === 'train' && !row.fell));

async function runHere(backend: JaxBackend): Promise<JaxjsReport> {
  await initJaxjs(backend);
  const report: JaxjsReport = {
    version: jaxjsVersion(),
    backend,
    adapter: jaxjsWebgpuAdapter(),
    lpNumThreads: process.env.LP_NUM_THREADS,
    rows: {},
  };
  console.log(
    `  jax-js ${report.version} on ${backend}` +
      (report.adapter
        ? ` (${report.adapter}; LP_NUM_THREADS ${report.lpNumThreads ?? 'unset'})`
        : ' (one thread)'),
  );
  for (const key of keys) {
    const row = await runJaxjsWorkload(key, backend, quick);
    report.rows[key] = row;
    console.log(`  ${describeJaxjsRow(key, backend, row)}`);
  }
  return report;
}

if (backends.length === 1) {
  const report = await runHere(backends[0]);
  if (jsonPath !== undefined) writeFileSync(jsonPath, JSON.stringify(report, null, 2));
  process.exit(failed(report) ? 1 : 0);
} else {
  const reports = backends.map((b) => spawnJaxjs(b, keys, quick));
  console.log('\n== Summary');
  for (const r of reports)
    for (const k of keys) if (r.rows[k]) console.log(describeJaxjsRow(k, r.backend, r.rows[k]));
  if (jsonPath !== undefined) {
    writeFileSync(jsonPath, JSON.stringify({ reports }, null, 2));
    console.log(`wrote ${jsonPath}`);
  }
  process.exit(reports.some(failed) ? 1 : 0);
}
