// A folder dropped on the page, walked through the File and Directory Entries API: the browser
// hands over entries, not files, and each directory is read in batches until one comes back empty.

import type { FolderFile } from './protocol.js';

/** The dropped items as files with their paths, or undefined when no folder was dropped. */
export async function droppedFolder(dt: DataTransfer): Promise<FolderFile[] | undefined> {
  const entries = [...dt.items]
    .map((i) => i.webkitGetAsEntry())
    .filter((e): e is FileSystemEntry => e !== null);
  if (!entries.some((e) => e.isDirectory)) return undefined;
  const out: FolderFile[] = [];
  const walk = async (entry: FileSystemEntry, prefix: string): Promise<void> => {
    if (entry.isFile) {
      const file = await new Promise<File>((resolve, reject) =>
        (entry as FileSystemFileEntry).file(resolve, reject),
      );
      out.push({ file, path: prefix + entry.name });
      return;
    }
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    for (;;) {
      const batch = await new Promise<FileSystemEntry[]>((resolve, reject) =>
        reader.readEntries(resolve, reject),
      );
      if (batch.length === 0) break;
      for (const e of batch) await walk(e, `${prefix}${entry.name}/`);
    }
  };
  // Several class folders dropped at once stand for one root folder.
  const prefix = entries.length > 1 ? 'dropped/' : '';
  for (const e of entries) await walk(e, prefix);
  return out;
}
