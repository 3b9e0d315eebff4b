// Device acquisition for browsers (navigator.gpu) and Node (the npm package `webgpu`, Dawn).
//
// In Node without a hardware adapter we fall back to an installed software Vulkan driver:
// Mesa lavapipe first (fast, has f16 and timestamps), then Chromium's SwiftShader. Dawn reads the
// Vulkan loader's VK_ICD_FILENAMES when it creates an instance, so we set it and create a fresh
// instance. A user who set VK_ICD_FILENAMES / VK_DRIVER_FILES themselves is respected.

import { DeviceLostError, GpuValidationError, WebGPUUnavailableError } from '../errors.js';
import { applyDriverThreads, type DriverThreads } from './driver-threads.js';

export interface AdapterReport {
  /** One line naming the adapter, e.g. "mesa software llvmpipe (Mesa 25.0.7)". */
  name: string;
  vendor: string;
  architecture: string;
  description: string;
  /** True for CPU implementations (lavapipe, SwiftShader, WARP). */
  software: boolean;
  /** 'lavapipe' | 'swiftshader' | 'hardware' | 'unknown', used as the kernel-tuning cache key family. */
  kind: 'lavapipe' | 'swiftshader' | 'hardware' | 'unknown';
  features: string[];
  limits: Record<string, number>;
  /** Where the adapter came from: 'browser', 'node', or 'node (software fallback: lavapipe)'. */
  origin: string;
  /** lavapipe in Node only: its compute worker threads (LP_NUM_THREADS; see driver-threads.ts). */
  driverThreads?: DriverThreads;
}

export interface AcquireOptions {
  powerPreference?: GPUPowerPreference;
  /** Force a software driver in Node (used to measure kernel variants on each). */
  software?: 'lavapipe' | 'swiftshader';
  /** Where one-off notices go (fallback used, etc). Default: console.warn. */
  log?: (message: string) => void;
}

export interface GpuDevice {
  device: GPUDevice;
  adapter: GPUAdapter;
  report: AdapterReport;
  /** Throws the first uncaptured GPU error or the loss reason, if any happened. */
  throwIfFailed(): void;
  /** Set once the device is lost; `undefined` while it is healthy. */
  readonly lostError: DeviceLostError | undefined;
  destroy(): void;
}

const ICDS = {
  lavapipe: [
    '/usr/share/vulkan/icd.d/lvp_icd.json',
    '/usr/share/vulkan/icd.d/lvp_icd.x86_64.json',
    '/usr/share/vulkan/icd.d/lvp_icd.aarch64.json',
  ],
  swiftshader: ['/usr/lib/chromium/vk_swiftshader_icd.json'],
} as const;

const INSTALL_HINT =
  'Install a WebGPU adapter: on Debian 12 run `bash scripts/setup-system.sh` (Mesa lavapipe from ' +
  'bookworm-backports, and chromium for SwiftShader), or use a machine with a Vulkan GPU driver. ' +
  'In a browser, use Chrome/Edge 113+ (or enable WebGPU in your browser flags).';

let noticeShown = false;

// A computed specifier keeps browser bundlers from pulling node:fs into the page.
async function nodeFs(): Promise<typeof import('node:fs')> {
  const name = 'node:fs';
  return (await import(/* @vite-ignore */ name)) as typeof import('node:fs');
}
async function nodeCores(): Promise<number> {
  const name = 'node:os';
  const os = (await import(/* @vite-ignore */ name)) as typeof import('node:os');
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}
const liveInstances: GPU[] = [];

function classify(info: GPUAdapterInfo): AdapterReport['kind'] {
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.toLowerCase();
  if (text.includes('llvmpipe') || text.includes('lavapipe')) return 'lavapipe';
  if (text.includes('swiftshader')) return 'swiftshader';
  if (text.trim() === '') return 'unknown';
  return 'hardware';
}

function limitsRecord(limits: GPUSupportedLimits): Record<string, number> {
  const out: Record<string, number> = {};
  // GPUSupportedLimits exposes getters on its prototype; walk them so every limit is reported.
  for (const key of Object.keys(Object.getPrototypeOf(limits) as object)) {
    const v = (limits as unknown as Record<string, unknown>)[key];
    if (typeof v === 'number') out[key] = v;
  }
  return out;
}

function reportFor(adapter: GPUAdapter, origin: string): AdapterReport {
  const info = adapter.info;
  const kind = classify(info);
  const parts = [info.vendor, info.architecture, info.description || info.device].filter((s) => s);
  return {
    name: parts.join(' ') || 'unknown adapter',
    vendor: info.vendor,
    architecture: info.architecture,
    description: info.description,
    software: kind === 'lavapipe' || kind === 'swiftshader' || Boolean(info.isFallbackAdapter),
    kind,
    features: [...adapter.features].map(String).sort(),
    limits: limitsRecord(adapter.limits),
    origin,
  };
}

async function nodeGpu(): Promise<{ create: (flags: string[]) => GPU }> {
  try {
    // A computed specifier keeps browser bundlers from trying to bundle the native Dawn addon.
    const name = 'webgpu';
    const mod = (await import(/* @vite-ignore */ name)) as {
      create: (flags: string[]) => GPU;
      globals: Record<string, unknown>;
    };
    Object.assign(globalThis, mod.globals);
    return mod;
  } catch (e) {
    throw new WebGPUUnavailableError(
      `The npm package 'webgpu' (Dawn for Node) could not be loaded: ${(e as Error).message}. Run \`npm install\`.`,
      { cause: e },
    );
  }
}

async function existing(paths: readonly string[]): Promise<string | undefined> {
  const fs = await nodeFs();
  return paths.find((p) => fs.existsSync(p));
}

async function nodeAdapter(
  opts: AcquireOptions,
): Promise<{ adapter: GPUAdapter; origin: string; driverThreads: DriverThreads }> {
  // Before any Dawn instance exists: llvmpipe reads its thread count once, at screen creation.
  const driverThreads = applyDriverThreads(process.env, await nodeCores());
  const { create } = await nodeGpu();
  const log = opts.log ?? ((m: string) => console.warn(m));
  const request = async () => {
    // The GPU instance must outlive every adapter and device made from it: if it is garbage
    // collected, Dawn tears the instance down under a live device and the process crashes on
    // the next dispatch. So every instance is kept for the life of the process.
    const instance = create([]);
    liveInstances.push(instance);
    return instance.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  };
  const userChoseIcd = Boolean(process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES);

  if (!opts.software) {
    const adapter = userChoseIcd || !(await onlySoftwareIcds()) ? await request() : null;
    if (adapter) return { adapter, origin: userChoseIcd ? 'node (VK_ICD_FILENAMES)' : 'node', driverThreads };
    if (userChoseIcd) {
      throw new WebGPUUnavailableError(
        `No WebGPU adapter from the Vulkan driver named by VK_ICD_FILENAMES/VK_DRIVER_FILES ` +
          `(${process.env.VK_ICD_FILENAMES ?? process.env.VK_DRIVER_FILES}). Check that file, or unset it. ${INSTALL_HINT}`,
      );
    }
  }
  const order = opts.software ? [opts.software] : (['lavapipe', 'swiftshader'] as const);
  for (const name of order) {
    const icd = await existing(ICDS[name]);
    if (!icd) continue;
    process.env.VK_ICD_FILENAMES = icd;
    const adapter = await request();
    if (adapter) {
      if (!noticeShown && !opts.software) {
        log(
          `webgpu-trainer: no hardware GPU adapter found; using the software Vulkan driver ${name} (${icd}).`,
        );
        noticeShown = true;
      }
      return { adapter, origin: `node (software: ${name})`, driverThreads };
    }
  }
  throw new WebGPUUnavailableError(
    opts.software
      ? `The software Vulkan driver '${opts.software}' is not installed or gave no adapter. ${INSTALL_HINT}`
      : `No WebGPU adapter: no hardware Vulkan driver answered and no software driver is installed. ${INSTALL_HINT}`,
  );
}

/** True when every installed Vulkan ICD is a software one (so asking the loader for hardware is moot). */
async function onlySoftwareIcds(): Promise<boolean> {
  const fs = await nodeFs();
  const dirs = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d'];
  const files = dirs.flatMap((d) => (fs.existsSync(d) ? fs.readdirSync(d) : []));
  // Mesa ships ICD files for every hardware driver it builds; those only answer with the hardware
  // present, so they are tried, and the loader simply finds nothing when there is no GPU.
  return files.length > 0 && files.every((f) => /^lvp_icd|swiftshader/.test(f));
}

/** Gets a device with the adapter's full buffer limits and the optional features we can use. */
export async function acquireGpu(opts: AcquireOptions = {}): Promise<GpuDevice> {
  const inBrowser = typeof navigator !== 'undefined' && 'gpu' in navigator && typeof window !== 'undefined';
  let adapter: GPUAdapter | null;
  let origin: string;
  let driverThreads: DriverThreads | undefined;
  if (
    inBrowser ||
    (typeof navigator !== 'undefined' && 'gpu' in navigator && typeof process === 'undefined')
  ) {
    adapter = await navigator.gpu.requestAdapter({
      powerPreference: opts.powerPreference ?? 'high-performance',
    });
    origin = 'browser';
    if (!adapter) {
      throw new WebGPUUnavailableError(
        'This browser exposes WebGPU but granted no adapter (blocklisted GPU or disabled hardware ' +
          'acceleration). Enable hardware acceleration, update the GPU driver, or try Chrome/Edge 113+ ' +
          '(on Linux, chrome://flags/#enable-unsafe-webgpu and the Vulkan feature).',
      );
    }
  } else if (typeof process !== 'undefined' && process.versions?.node) {
    ({ adapter, origin, driverThreads } = await nodeAdapter(opts));
  } else {
    throw new WebGPUUnavailableError(
      `WebGPU is not available in this environment (no navigator.gpu). ${INSTALL_HINT}`,
    );
  }

  // subgroups: the 'sg' matmul variants (src/kernels/matmul.ts) use them where lanes are 8 wide.
  // shader-f16: mixed precision (TrainerOptions.precision).
  const wanted: GPUFeatureName[] = ['timestamp-query', 'subgroups' as GPUFeatureName, 'shader-f16'];
  const requiredFeatures = wanted.filter((f) => adapter.features.has(f));
  const al = adapter.limits;
  const device = await adapter.requestDevice({
    label: 'webgpu-trainer',
    requiredFeatures,
    requiredLimits: {
      maxStorageBufferBindingSize: al.maxStorageBufferBindingSize,
      maxBufferSize: al.maxBufferSize,
      maxStorageBuffersPerShaderStage: al.maxStorageBuffersPerShaderStage,
      maxComputeWorkgroupStorageSize: al.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: al.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: al.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupSizeY: al.maxComputeWorkgroupSizeY,
      maxComputeWorkgroupsPerDimension: al.maxComputeWorkgroupsPerDimension,
    },
  });
  const report = reportFor(adapter, origin);
  if (report.kind === 'lavapipe' && driverThreads) report.driverThreads = driverThreads;

  let lostError: DeviceLostError | undefined;
  let firstError: GpuValidationError | undefined;
  void device.lost.then((info) => {
    if (info.reason === 'destroyed') return;
    lostError = new DeviceLostError(
      `The GPU device was lost (${info.reason}): ${info.message}. Create a new trainer to continue; ` +
        'weights read back before the loss (or the last checkpoint) can be restored into it.',
      String(info.reason),
    );
  });
  device.addEventListener('uncapturederror', (ev) => {
    const err = (ev as GPUUncapturedErrorEvent).error;
    firstError ??= new GpuValidationError(`GPU error: ${err.message}`);
  });

  let destroyed = false;
  return {
    device,
    adapter,
    report,
    get lostError() {
      return lostError;
    },
    throwIfFailed() {
      if (lostError) throw lostError;
      if (firstError) {
        const e = firstError;
        firstError = undefined;
        throw e;
      }
      if (destroyed)
        throw new DeviceLostError('The GPU device was destroyed; create a new one.', 'destroyed');
    },
    destroy() {
      destroyed = true;
      device.destroy();
    },
  };
}
