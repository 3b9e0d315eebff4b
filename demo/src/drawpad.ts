// A drawing canvas for digits, read out the way MNIST was made: white ink on black, the ink's
// bounding box scaled to fit 20x20 (aspect kept), then placed in a 28x28 frame so its centre of
// mass sits at the centre. Mouse, pen and touch all go through pointer events.

export const PAD_SIZE = 28;

export class DrawPad {
  private readonly ctx: CanvasRenderingContext2D;
  private drawing = false;
  private last: [number, number] | undefined;
  private inked = false;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly onChange: (pixels: Uint8Array | undefined) => void,
  ) {
    this.ctx = canvas.getContext('2d', { willReadFrequently: true })!;
    this.clear();
    canvas.style.touchAction = 'none';
    canvas.addEventListener('pointerdown', (e) => {
      this.drawing = true;
      this.last = this.point(e);
      canvas.setPointerCapture(e.pointerId);
      this.stroke(this.point(e));
    });
    canvas.addEventListener('pointermove', (e) => {
      if (this.drawing) this.stroke(this.point(e));
    });
    const end = () => {
      if (!this.drawing) return;
      this.drawing = false;
      this.last = undefined;
      this.onChange(this.pixels());
    };
    canvas.addEventListener('pointerup', end);
    canvas.addEventListener('pointercancel', end);
  }

  clear(): void {
    this.ctx.fillStyle = '#000';
    this.ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    this.inked = false;
    this.onChange(undefined);
  }

  private point(e: PointerEvent): [number, number] {
    const r = this.canvas.getBoundingClientRect();
    return [
      ((e.clientX - r.left) / r.width) * this.canvas.width,
      ((e.clientY - r.top) / r.height) * this.canvas.height,
    ];
  }

  private stroke(p: [number, number]): void {
    const ctx = this.ctx;
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = this.canvas.width / 12;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.beginPath();
    const from = this.last ?? p;
    ctx.moveTo(from[0], from[1]);
    ctx.lineTo(p[0], p[1]);
    ctx.stroke();
    this.last = p;
    this.inked = true;
    this.onChange(this.pixels());
  }

  /** The drawing as 28x28 grey bytes (0 background, 255 ink), or undefined when blank. */
  pixels(): Uint8Array | undefined {
    if (!this.inked) return undefined;
    const { width: W, height: H } = this.canvas;
    const src = this.ctx.getImageData(0, 0, W, H).data;
    let x0 = W;
    let y0 = H;
    let x1 = -1;
    let y1 = -1;
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++)
        if (src[4 * (y * W + x)] > 0) {
          x0 = Math.min(x0, x);
          x1 = Math.max(x1, x);
          y0 = Math.min(y0, y);
          y1 = Math.max(y1, y);
        }
    if (x1 < 0) return undefined;
    const bw = x1 - x0 + 1;
    const bh = y1 - y0 + 1;
    const scale = 20 / Math.max(bw, bh);
    const box = new OffscreenCanvas(PAD_SIZE, PAD_SIZE);
    const bctx = box.getContext('2d', { willReadFrequently: true })!;
    bctx.fillStyle = '#000';
    bctx.fillRect(0, 0, PAD_SIZE, PAD_SIZE);
    bctx.imageSmoothingEnabled = true;
    bctx.imageSmoothingQuality = 'high';
    const dw = bw * scale;
    const dh = bh * scale;
    bctx.drawImage(this.canvas, x0, y0, bw, bh, (PAD_SIZE - dw) / 2, (PAD_SIZE - dh) / 2, dw, dh);
    const small = bctx.getImageData(0, 0, PAD_SIZE, PAD_SIZE).data;
    const grey = new Uint8Array(PAD_SIZE * PAD_SIZE);
    let mass = 0;
    let cx = 0;
    let cy = 0;
    for (let i = 0; i < grey.length; i++) {
      grey[i] = small[4 * i];
      mass += grey[i];
      cx += (i % PAD_SIZE) * grey[i];
      cy += Math.floor(i / PAD_SIZE) * grey[i];
    }
    if (mass === 0) return undefined;
    // Shift by whole pixels so the centre of mass lands on (13.5, 13.5), as in MNIST.
    const sx = Math.round(13.5 - cx / mass);
    const sy = Math.round(13.5 - cy / mass);
    const out = new Uint8Array(grey.length);
    for (let y = 0; y < PAD_SIZE; y++)
      for (let x = 0; x < PAD_SIZE; x++) {
        const fx = x - sx;
        const fy = y - sy;
        if (fx >= 0 && fx < PAD_SIZE && fy >= 0 && fy < PAD_SIZE)
          out[y * PAD_SIZE + x] = grey[fy * PAD_SIZE + fx];
      }
    return out;
  }
}
