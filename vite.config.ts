// The browser demo (demo/). `npm run demo` serves it with the local data folder under /data/
// ($DEMO_DATA_DIR, default ../shared/data); `npm run build:demo` writes static files to dist/demo.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';
import { dataDir, dataMiddleware } from './demo/serve-data.js';

const here = path.dirname(fileURLToPath(import.meta.url));

function serveData(): Plugin {
  const root = dataDir(path.resolve(here, '../shared/data'));
  return {
    name: 'demo-serve-data',
    configureServer(server) {
      server.middlewares.use(dataMiddleware(root));
    },
    configurePreviewServer(server) {
      server.middlewares.use(dataMiddleware(root));
    },
  };
}

export default defineConfig({
  root: path.resolve(here, 'demo'),
  // Relative asset URLs so the built folder works from any path (a subfolder, file server, CDN).
  base: './',
  plugins: [serveData()],
  server: { host: '127.0.0.1', fs: { allow: [here] } },
  build: {
    outDir: path.resolve(here, 'dist/demo'),
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 2000,
    // Engine errors are named after their class (EngineError sets this.name = new.target.name) and
    // the page shows that name, so minification must not rename classes.
    rolldownOptions: {
      // Two pages: training from scratch (index.html) and fine-tuning a pretrained backbone.
      input: {
        index: path.resolve(here, 'demo/index.html'),
        finetune: path.resolve(here, 'demo/finetune.html'),
      },
      output: { keepNames: true },
    },
  },
});
