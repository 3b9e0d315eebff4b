// The built demo (both pages) served on 127.0.0.1 with a data folder under /data/, for browser
// tests: Vite builds demo/ into a temp folder, a Node server serves it, close() removes both.

import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { build } from 'vite';
import { dataMiddleware } from '../../demo/serve-data.js';
import { staticHandler } from './demo-page.js';

export interface DemoServer {
  origin: string;
  close(): Promise<void>;
}

export async function serveBuiltDemo(repo: string, dataRoot: string): Promise<DemoServer> {
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'demo-build-'));
  await build({
    configFile: path.join(repo, 'vite.config.ts'),
    logLevel: 'error',
    build: { outDir, emptyOutDir: true },
  });
  const server = http.createServer(staticHandler(outDir, dataMiddleware(dataRoot)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      await new Promise((resolve) => server.close(resolve));
      fs.rmSync(outDir, { recursive: true, force: true });
    },
  };
}
