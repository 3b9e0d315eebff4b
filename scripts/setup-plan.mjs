// The decisions of scripts/setup-system.sh, kept apart from the commands that gather the facts and
// run apt-get so that every branch can be tested with made-up facts (test/scripts/setup.test.ts).
//
// Input (environment, all strings; setup-system.sh fills them from the machine):
//   SETUP_MODE    start | test     what the command needs: `npm start` trains, `npm test` also
//                                  runs the browser tests (Chromium) and the djpeg comparison
//   SETUP_UID     the user id (0 = root)
//   SETUP_APT     1 when apt-get and dpkg-query exist (a Debian-like system), else 0
//   SETUP_MESA    dpkg's version of mesa-vulkan-drivers, or empty
//   SETUP_ADAPTER one JSON line from scripts/probe-adapter.mjs: {"adapter": "hardware" |
//                 "software" | "none" | "unknown", "description": "..."}
//   SETUP_HAVE    what is already here, space separated: chromium djpeg fashion swiftshader
//   SETUP_NEED_FASHION  1 when the command trains on the default dataset (Fashion-MNIST)
//   SETUP_NEED_TURBOJPEG 1 when turbojpeg.h (libturbojpeg0-dev) is missing, for native/turbo
//   CI            true: everything the tests use is required, a missing piece is an error
// Output (stdout), one action per line, in order:
//   install-backports <pkg...>  apt-get install -t bookworm-backports (adds the suite if needed)
//   install <pkg...>            apt-get install
//   note <text>                 a one-line notice: what is missing, why, and what happens instead
//   error <text>                a one-line reason the command cannot run; setup-system exits 1
import { pathToFileURL } from 'node:url';

/** @param {Record<string, string | undefined>} env */
export function plan(env) {
  const mode = env.SETUP_MODE === 'start' ? 'start' : 'test';
  const ci = env.CI === 'true';
  const have = new Set((env.SETUP_HAVE ?? '').split(/\s+/).filter(Boolean));
  const root = env.SETUP_UID === '0';
  const apt = env.SETUP_APT === '1';
  const canInstall = root && apt;
  const cannot = !apt ? 'no apt-get here (not Debian)' : 'not root';
  /** @type {{adapter?: string, description?: string}} */
  let probe = {};
  try {
    probe = JSON.parse(env.SETUP_ADAPTER ?? '{}');
  } catch {
    probe = {};
  }
  const adapter = ['hardware', 'software', 'none'].includes(probe.adapter ?? '') ? probe.adapter : 'unknown';
  const mesa = env.SETUP_MESA ?? '';
  const mesaOld = mesa !== '' && !/^(2[5-9]|[3-9]\d)/.test(mesa);
  const actions = { backports: [], install: [], notes: [], errors: [] };

  // 1. A WebGPU adapter: a software Vulkan driver only when Dawn finds no adapter at all.
  if (adapter === 'hardware') {
    actions.notes.push(`hardware GPU adapter (${probe.description}); no software Vulkan driver needed`);
  } else if (adapter === 'none' || adapter === 'unknown') {
    const why =
      adapter === 'unknown'
        ? 'could not ask Dawn for an adapter (npm packages not installed yet?)'
        : mesaOld
          ? `Dawn finds no adapter: no GPU driver, and mesa-vulkan-drivers ${mesa} is too old for Dawn (lavapipe needs Mesa 25+)`
          : 'Dawn finds no adapter: no GPU driver and no software Vulkan driver';
    if (canInstall) {
      actions.backports.push('mesa-vulkan-drivers', 'libvulkan1');
    } else if (adapter === 'unknown') {
      actions.notes.push(`${why}; not installing lavapipe (${cannot})`);
    } else if (have.has('swiftshader') && !ci) {
      actions.notes.push(
        `${why}; using Chromium's SwiftShader instead (slow). For lavapipe, as root: apt-get install -t bookworm-backports mesa-vulkan-drivers`,
      );
    } else {
      actions.errors.push(
        `${why}, and lavapipe cannot be installed (${cannot}). Install a Vulkan GPU driver, or as root on Debian 12 run: bash scripts/setup-system.sh`,
      );
    }
  }

  // 2. Test-only tools.
  if (mode === 'test') {
    for (const [name, pkg, use] of [
      ['chromium', 'chromium', 'the browser demo tests'],
      ['djpeg', 'libjpeg-turbo-progs', 'the JPEG decoder comparison against libjpeg-turbo'],
    ]) {
      if (have.has(name)) continue;
      if (canInstall) actions.install.push(pkg);
      else if (ci)
        actions.errors.push(`${name} is missing and cannot be installed (${cannot}); CI runs ${use}`);
      else
        actions.notes.push(`${name} missing (${cannot}, so not installing ${pkg}); ${use} will be skipped`);
    }
  }

  // 3. Fashion-MNIST: Debian's package, or else the lookup's verified download on first use.
  const wantsFashion = mode === 'test' || env.SETUP_NEED_FASHION === '1';
  if (wantsFashion && !have.has('fashion')) {
    if (canInstall) actions.install.push('dataset-fashion-mnist');
    else if (mode === 'start')
      actions.notes.push(
        `Fashion-MNIST not found locally and dataset-fashion-mnist cannot be installed (${cannot}); train downloads it (md5-verified) into ~/.cache/webgpu-trainer on first use`,
      );
    else if (ci)
      actions.errors.push(`Fashion-MNIST is missing and cannot be installed (${cannot}); CI runs its tests`);
    else
      actions.notes.push(
        `Fashion-MNIST not found locally (${cannot}, so not installing dataset-fashion-mnist); its tests will be skipped`,
      );
  }

  // 4. The optional JPEG accelerator's header (native/turbo, `npm run build:native`): without it
  //    sharp decodes JPEGs; CI builds and tests the accelerator, so there it is required.
  if (env.SETUP_NEED_TURBOJPEG === '1') {
    if (canInstall) actions.install.push('libturbojpeg0-dev');
    else if (ci)
      actions.errors.push(
        `libturbojpeg0-dev is missing and cannot be installed (${cannot}); CI builds the JPEG accelerator`,
      );
    else
      actions.notes.push(
        `libturbojpeg0-dev missing (${cannot}); the JPEG accelerator (native/turbo) is not built and sharp decodes JPEGs`,
      );
  }

  const lines = [];
  if (actions.backports.length) lines.push(`install-backports ${actions.backports.join(' ')}`);
  if (actions.install.length) lines.push(`install ${actions.install.join(' ')}`);
  for (const n of actions.notes) lines.push(`note ${n}`);
  for (const e of actions.errors) lines.push(`error ${e}`);
  return lines;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const line of plan(process.env)) process.stdout.write(`${line}\n`);
}
