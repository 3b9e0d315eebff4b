// Types for the parts of jsfive (pure-JS HDF5 reader, ships no .d.ts) that hdf5.ts uses.
// Kept minimal on purpose: every value coming out of it is re-checked at runtime in hdf5.ts.
declare module 'jsfive' {
  export class Group {
    readonly keys: string[];
    get(path: string): Group | Dataset | undefined;
  }
  export class File extends Group {
    constructor(buffer: ArrayBuffer, filename?: string);
  }
  export class Dataset {
    /** Element type as a numpy-style code ('<u1', '<i8', 'S7', ...) or a compound description. */
    readonly dtype: unknown;
    readonly shape: unknown;
    /** Reads the whole array (a plain JS array); may be big, so check shape first. */
    readonly value: unknown;
    /** jsfive internals: chunk shape (null when contiguous) and the filter list. */
    readonly _dataobjects: { readonly chunks: unknown; readonly filter_pipeline: unknown };
  }
}
