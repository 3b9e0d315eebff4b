// Getting a WebGPU device, and saying plainly what to do when there is none. The page asks first
// (navigator.gpu on the main thread); the training worker then acquires the device itself (WebGPU
// is exposed to dedicated workers wherever it is exposed to pages). Without a device the rest of
// the page (data, stats, model file inspection) still works; training and prediction wait.

import { acquireGpu, type GpuDevice } from '../../src/index.js';

export interface GpuOutcome {
  gpu?: GpuDevice;
  /** Why there is no device, in plain words, with what to do; undefined when there is one. */
  help?: string;
}

const WHAT_TO_DO =
  'What to do: use a current Chrome or Edge (version 113 or later) on Windows, macOS or ChromeOS, ' +
  'Chrome 121+ on Android, Safari 26+, or Firefox 141+ on Windows (145+ on Apple-silicon Macs). On Linux, ' +
  'start Chrome with --enable-unsafe-webgpu --enable-features=Vulkan (or turn on ' +
  'chrome://flags/#enable-unsafe-webgpu). The page must come from https:// or localhost. Until then ' +
  'you can still load and look at data and open model files here; training and predictions need WebGPU.';

/**
 * Firefox-specific advice. Firefox ships WebGPU on by default from 141 on Windows and from 145 on
 * Apple-silicon macOS; on Linux it is behind dom.webgpu.enabled (checked with Debian's firefox-esr
 * 153: navigator.gpu is missing by default; with the pref it is there, in pages and workers, but a
 * machine without a GPU Firefox trusts, e.g. a software Vulkan driver, gets no adapter unless
 * gfx.webgpu.ignore-blocklist is also true).
 */
export function firefoxAdvice(userAgent: string, hasGpu: boolean): string {
  const m = /Firefox\/(\d+)/.exec(userAgent);
  if (!m) return '';
  const version = Number(m[1]);
  if (version < 141) {
    return (
      `This is Firefox ${version}, which has no WebGPU: use Firefox 141 or later (on Linux with ` +
      'dom.webgpu.enabled set to true in about:config) or Chrome. '
    );
  }
  if (!hasGpu) {
    return (
      `This is Firefox ${version}: WebGPU is off by default here (it is on by default only on Windows ` +
      'and Apple-silicon macOS). Open about:config, set dom.webgpu.enabled to true and reload. '
    );
  }
  return (
    `This is Firefox ${version}: it blocks WebGPU on GPUs and drivers it has not validated (software ` +
    'Vulkan drivers included); setting gfx.webgpu.ignore-blocklist to true in about:config lifts that, ' +
    'at your own risk. '
  );
}

function userAgent(): string {
  return typeof navigator === 'undefined' ? '' : navigator.userAgent;
}

/** The explanation when navigator.gpu is missing (no device asked for). */
export function missingHelp(): string {
  return (
    `WebGPU is not available in this browser (navigator.gpu is missing${isSecureContext ? '' : ': this page is not a secure context'}), so this page cannot train here. ` +
    firefoxAdvice(userAgent(), false) +
    WHAT_TO_DO
  );
}

export async function getGpu(): Promise<GpuOutcome> {
  if (!('gpu' in navigator) || !navigator.gpu) return { help: missingHelp() };
  try {
    return { gpu: await acquireGpu({ log: () => undefined }) };
  } catch (e) {
    return {
      help:
        `This browser has WebGPU but did not grant a GPU adapter (${(e as Error).message.split('. ')[0]}). ` +
        'It may block this GPU or have hardware acceleration turned off: turn acceleration on in the ' +
        'browser settings and update the graphics driver. ' +
        firefoxAdvice(userAgent(), true) +
        WHAT_TO_DO,
    };
  }
}
