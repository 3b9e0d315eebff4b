// One entry point for the weight files users already have: `torch.save(model.state_dict())`
// archives (.pth, .pt) and safetensors files (HuggingFace, timm). The format is picked by content,
// not by name: a zip archive is read as PyTorch's, a bare pickle is PyTorch's legacy format
// (refused), and an 8-byte length followed by "{" is safetensors. Both give the same StateDict.
// Browser-safe: no file system here (see state-dict-file.ts for the Node reader).

import { ModelFormatError } from '../errors.js';
import { isLegacyTorchFile, readPth } from './pth.js';
import { decodeSafetensors } from './safetensors.js';
import { STATE_DICT_DTYPES, toEngineTensor, type StateDict } from './state-dict-tensor.js';
import { isZip } from './zip.js';

export type { StateDict, StateDictTensor } from './state-dict-tensor.js';

export type StateDictFormat = 'pth' | 'safetensors';

/** Which reader the bytes need, or undefined when they are neither format. */
export function stateDictFormat(bytes: Uint8Array): StateDictFormat | undefined {
  if (isZip(bytes)) return 'pth';
  if (bytes.length >= 9 && bytes[8] === 0x7b && bytes[6] === 0 && bytes[7] === 0) return 'safetensors';
  return undefined;
}

/**
 * Parses a state dict from the bytes of a .pth or .safetensors file; `name` (the file's name)
 * is used in messages. Tensors may be views into `bytes`: keep it unmodified while they live.
 * Throws ModelFormatError (PickleRefusedError for a hostile pickle) naming the file.
 */
export function parseStateDict(bytes: Uint8Array, name: string): StateDict {
  const format = stateDictFormat(bytes);
  if (format === 'pth') return readPth(bytes, name);
  if (format === 'safetensors') return readSafetensorsStateDict(bytes, name);
  if (isLegacyTorchFile(bytes)) {
    throw new ModelFormatError(
      `${name}: this is PyTorch's legacy (pre-1.6) file format, which is not read; ` +
        're-save it with torch.save(state_dict, path, _use_new_zipfile_serialization=True)',
      name,
    );
  }
  throw new ModelFormatError(
    `${name}: neither a torch.save zip archive nor a safetensors file (${bytes.length} bytes; truncated?)`,
    name,
  );
}

function readSafetensorsStateDict(bytes: Uint8Array, name: string): StateDict {
  const { tensors } = decodeSafetensors(bytes, name);
  const out: StateDict = new Map();
  for (const [key, t] of Object.entries(tensors)) {
    if (!STATE_DICT_DTYPES.includes(t.dtype)) {
      throw new ModelFormatError(
        `${name}: tensor "${key}" is ${t.dtype}; state dicts are read in ${STATE_DICT_DTYPES.join(', ')}`,
        name,
      );
    }
    out.set(key, toEngineTensor(t.dtype, t.shape, t.data));
  }
  return out;
}
