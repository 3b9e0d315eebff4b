// Getting a WebGPU device, and saying plainly what to do when there is none. Without a device the
// rest of the page (data, stats, model file inspection) still works; training and prediction wait.

import { acquireGpu, type GpuDevice } from '../../src/index.js';

export interface GpuOutcome {
  gpu?: GpuDevice;
  /** Why there is no device, in plain words, with what to do; undefined when there is one. */
  help?: string;
}

const WHAT_TO_DO =
  'What to do: use a current Chrome or Edge (version 113 or later) on Windows, macOS or ChromeOS, ' +
  'Chrome 121+ on Android, Safari 26+ or Firefox 141+ on Windows. On Linux, start Chrome with ' +
  '--enable-unsafe-webgpu --enable-features=Vulkan (or turn on chrome://flags/#enable-unsafe-webgpu). ' +
  'The page must come from https:// or localhost. Until then you can still load and look at data ' +
  'and open model files here; training and predictions need WebGPU.';

export async function getGpu(): Promise<GpuOutcome> {
  if (!('gpu' in navigator) || !navigator.gpu) {
    return {
      help:
        `WebGPU is not available in this browser (navigator.gpu is missing${isSecureContext ? '' : ': this page is not a secure context'}), so this page cannot train here. ` +
        WHAT_TO_DO,
    };
  }
  try {
    return { gpu: await acquireGpu({ log: () => undefined }) };
  } catch (e) {
    return {
      help:
        `This browser has WebGPU but did not grant a GPU adapter (${(e as Error).message.split('. ')[0]}). ` +
        'It may block this GPU or have hardware acceleration turned off: turn acceleration on in the ' +
        'browser settings and update the graphics driver. ' +
        WHAT_TO_DO,
    };
  }
}
