// Where this package lives on disk (Node only): its sample data (known.ts) and its optional native
// addon (decode-turbo.ts) are found from here, whichever depth the running module sits at.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder holding this package's package.json: the repository, or node_modules/webgpu-trainer
 * once installed. Found by walking up, because this module runs from src/data (tsx, vitest) and
 * from dist/src/data (the build) at different depths.
 */
export function packageRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (let d = here; ; d = path.dirname(d)) {
    const pkg = path.join(d, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === 'webgpu-trainer') return d;
      } catch {
        // An unreadable package.json on the way up is not ours; keep walking.
      }
    }
    if (path.dirname(d) === d) return path.resolve(here, '../..');
  }
}
