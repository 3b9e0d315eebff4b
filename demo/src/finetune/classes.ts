// The class cards of the fine-tuning page (main thread, DOM only): a name, pictures from a file
// picker, a drop or the webcam, a count and thumbnails. The pictures stay File objects; the
// worker decodes them. A folder (picked or dropped) with one subfolder per class fills the board.

import { showError } from '../dom.js';
import type { FolderFile } from '../protocol.js';
import type { ClassFiles } from './protocol.js';

const IMAGE = /\.(png|jpe?g|gif|webp|bmp|avif)$/i;
/** Thumbnails drawn per class; the count says how many there are in all. */
const THUMBS = 24;

const isPicture = (f: File) => f.type.startsWith('image/') || IMAGE.test(f.name);

interface Card {
  root: HTMLElement;
  name: HTMLInputElement;
  files: File[];
}

export class ClassBoard {
  private readonly cards: Card[] = [];

  constructor(
    private readonly container: HTMLElement,
    private readonly webcam: Webcam,
  ) {}

  list(): ClassFiles[] {
    return this.cards.map((c) => ({ name: c.name.value, files: [...c.files] }));
  }

  add(name: string, files: File[] = []): void {
    const k = this.cards.length;
    const root = document.createElement('div');
    root.className = 'class-card';
    root.dataset.index = String(k);
    root.innerHTML = `
      <div class="row"><label>Class <input class="class-name" type="text" spellcheck="false" /></label>
      <button class="class-remove" type="button" aria-label="Remove this class">✕</button></div>
      <div class="row"><input class="class-files" type="file" multiple accept="image/*" aria-label="Pictures of this class" />
      <button class="class-webcam" type="button" hidden>Add a webcam frame</button></div>
      <p class="class-count" aria-live="polite">No pictures yet: pick some or drop them here.</p>
      <div class="thumbs"></div>`;
    const card: Card = { root, name: root.querySelector<HTMLInputElement>('.class-name')!, files: [] };
    card.name.value = name;
    root.querySelector<HTMLInputElement>('.class-files')!.addEventListener('change', (e) => {
      const input = e.target as HTMLInputElement;
      this.addFiles(card, [...(input.files ?? [])]);
      input.value = '';
    });
    root.querySelector('.class-remove')!.addEventListener('click', () => this.remove(card));
    const cam = root.querySelector<HTMLButtonElement>('.class-webcam')!;
    cam.hidden = !this.webcam.available;
    cam.addEventListener('click', () => {
      this.webcam.frame().then(
        (f) => this.addFiles(card, [f]),
        (e: unknown) => showError('Webcam', e),
      );
    });
    root.addEventListener('dragover', (e) => {
      e.preventDefault();
      root.classList.add('over');
    });
    root.addEventListener('dragleave', () => root.classList.remove('over'));
    root.addEventListener('drop', (e) => {
      e.preventDefault();
      e.stopPropagation();
      root.classList.remove('over');
      this.addFiles(card, [...(e.dataTransfer?.files ?? [])]);
    });
    this.cards.push(card);
    this.container.append(root);
    this.addFiles(card, files);
  }

  /** Replaces the board with one class per subfolder holding pictures (sorted by name). */
  fromFolder(files: FolderFile[]): number {
    const groups = new Map<string, File[]>();
    for (const f of files) {
      const parts = f.path.split('/').filter((p) => p !== '');
      if (parts.length < 2 || !isPicture(f.file) || parts[parts.length - 1].startsWith('.')) continue;
      const name = parts[parts.length - 2];
      groups.set(name, [...(groups.get(name) ?? []), f.file]);
    }
    if (groups.size === 0) return 0;
    for (const c of this.cards.splice(0)) c.root.remove();
    for (const name of [...groups.keys()].sort()) this.add(name, groups.get(name));
    return groups.size;
  }

  private remove(card: Card): void {
    const i = this.cards.indexOf(card);
    if (i >= 0) this.cards.splice(i, 1);
    card.root.remove();
  }

  private addFiles(card: Card, files: File[]): void {
    const pictures = files.filter(isPicture);
    const shown = card.files.length;
    card.files.push(...pictures);
    const thumbs = card.root.querySelector('.thumbs')!;
    for (const f of pictures.slice(0, Math.max(0, THUMBS - shown))) {
      const img = document.createElement('img');
      img.alt = f.name;
      img.decoding = 'async';
      img.src = URL.createObjectURL(f);
      img.onload = () => URL.revokeObjectURL(img.src);
      thumbs.append(img);
    }
    const skipped = files.length - pictures.length;
    card.root.querySelector('.class-count')!.textContent =
      `${card.files.length} picture${card.files.length === 1 ? '' : 's'}` +
      (skipped > 0 ? ` (${skipped} file${skipped === 1 ? '' : 's'} skipped: not pictures)` : '');
    card.root.dataset.count = String(card.files.length);
  }
}

/** The webcam, where there is one: started on first use, frames taken as PNG files. */
export class Webcam {
  readonly available = typeof navigator !== 'undefined' && !!navigator.mediaDevices?.getUserMedia;
  private started?: Promise<void>;
  private taken = 0;

  constructor(private readonly video: HTMLVideoElement) {}

  private start(): Promise<void> {
    this.started ??= navigator.mediaDevices
      .getUserMedia({ video: { width: 320, height: 240 } })
      .then(async (s) => {
        this.video.srcObject = s;
        this.video.hidden = false;
        await this.video.play();
      });
    return this.started;
  }

  async frame(): Promise<File> {
    await this.start();
    const canvas = document.createElement('canvas');
    canvas.width = this.video.videoWidth || 320;
    canvas.height = this.video.videoHeight || 240;
    canvas.getContext('2d')!.drawImage(this.video, 0, 0, canvas.width, canvas.height);
    const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/png'));
    if (!blob) throw new Error('The webcam frame could not be encoded.');
    return new File([blob], `webcam-${++this.taken}.png`, { type: 'image/png' });
  }
}
