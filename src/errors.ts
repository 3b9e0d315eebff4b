// Named errors for every failure a user can cause or meet. Each message says what was wrong
// and what to do about it; callers catch by class, never by parsing messages.

/** Base class so callers can catch every engine error at once. */
export class EngineError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    // The prototype's `name` (set at the end of this file) survives minification, which
    // renames classes; new.target.name would not.
    this.name = (Object.getPrototypeOf(this) as { name: string }).name;
  }
}

/** No WebGPU implementation or no adapter could be obtained. */
export class WebGPUUnavailableError extends EngineError {}

/** The GPU device was lost (driver reset, tab backgrounded, out of memory, destroy()). */
export class DeviceLostError extends EngineError {
  constructor(
    message: string,
    readonly reason: string,
  ) {
    super(message);
  }
}

/** An uncaptured validation or out-of-memory error reported by the device. */
export class GpuValidationError extends EngineError {}

/** A GPU allocation failed or would exceed the adapter's limits. */
export class GpuOutOfMemoryError extends EngineError {}

/** WGSL failed to compile; the message carries line:column and the offending source line. */
export class ShaderCompileError extends EngineError {
  constructor(
    message: string,
    readonly shader: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(message);
  }
}

/** Tensor shapes or buffer sizes that do not fit the operation. */
export class ShapeError extends EngineError {}

/** A configuration value (layer, optimizer, schedule, CLI flag) that is not valid. */
export class ConfigError extends EngineError {}

/** Input data contained NaN or Infinity; names the batch and sample. */
export class NonFiniteInputError extends EngineError {}

/** Training diverged: the loss became NaN or Infinity. */
export class NonFiniteLossError extends EngineError {}

/** A dataset file is malformed: names the file, the record and what was expected. */
export class DatasetFormatError extends EngineError {
  constructor(
    message: string,
    readonly file: string,
    readonly record?: number,
  ) {
    super(message);
  }
}

/** A known dataset could not be found locally or downloaded. */
export class DatasetNotFoundError extends EngineError {}

/**
 * A folder given as a dataset is laid out as none of the formats the library opens (IDX files,
 * class folders, a shard set), or its train and test splits disagree; `file` is the folder.
 */
export class DatasetLayoutError extends DatasetFormatError {}

/** Data holds classes that a model does not know (evaluating a model on other data). */
export class ClassMismatchError extends EngineError {}

/** A model or checkpoint file is malformed, hostile or does not match the architecture. */
export class ModelFormatError extends EngineError {
  constructor(
    message: string,
    readonly file: string,
  ) {
    super(message);
  }
}

/**
 * A pickle (inside a .pth file) uses an opcode or a global that a state dict does not need; the
 * restricted unpickler refuses it rather than run it. The message names the opcode or global.
 */
export class PickleRefusedError extends ModelFormatError {}

/** A data loader was used out of order: after close(), or concurrently in a way its contract forbids. */
export class DataLoaderStateError extends EngineError {}

/** A file is larger than the caller allows reading into memory. */
export class FileTooLargeError extends EngineError {
  constructor(
    message: string,
    readonly file: string,
    readonly size: number,
    readonly limit: number,
  ) {
    super(message);
  }
}

/** A file in an image folder is neither PNG nor JPEG (by content and name); skippable by option. */
export class NotAnImageError extends DatasetFormatError {}

// Fixed names for every error class (see EngineError's constructor).
for (const [name, cls] of Object.entries({
  EngineError,
  WebGPUUnavailableError,
  DeviceLostError,
  GpuValidationError,
  GpuOutOfMemoryError,
  ShaderCompileError,
  ShapeError,
  ConfigError,
  NonFiniteInputError,
  NonFiniteLossError,
  DatasetFormatError,
  DatasetNotFoundError,
  DatasetLayoutError,
  ClassMismatchError,
  ModelFormatError,
  PickleRefusedError,
  DataLoaderStateError,
  FileTooLargeError,
  NotAnImageError,
})) {
  Object.defineProperty(cls.prototype, 'name', { value: name, writable: true, configurable: true });
}
