// Small DOM helpers shared by the demo modules: typed element lookup and the page's message areas.

export function byId<T extends HTMLElement>(id: string, type: new () => T): T {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`demo page is missing #${id} (${type.name})`);
  return el;
}

/** Shows an error in the page's alert area (and never only in the console). */
export function showError(context: string, err: unknown): void {
  const box = byId('error', HTMLDivElement);
  const message =
    err instanceof Error ? `${err.name === 'Error' ? '' : `${err.name}: `}${err.message}` : String(err);
  box.textContent = `${context}: ${message}`;
  box.hidden = false;
}

export function clearError(): void {
  const box = byId('error', HTMLDivElement);
  box.textContent = '';
  box.hidden = true;
}

export function setText(id: string, text: string): void {
  byId(id, HTMLElement).textContent = text;
}

/** Lets the browser paint and handle input before long work continues. */
export function nextFrame(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** Reads a number input, clamped to [min, max]; `fallback` when empty or not a number. */
export function numberInput(id: string, fallback: number, min: number, max: number): number {
  const v = Number(byId(id, HTMLInputElement).value);
  if (!Number.isFinite(v) || byId(id, HTMLInputElement).value.trim() === '') return fallback;
  return Math.min(max, Math.max(min, v));
}

export function downloadBytes(bytes: Uint8Array, fileName: string): void {
  const blob = new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
