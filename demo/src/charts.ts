// Live line charts on a 2D canvas (no chart library): one chart per metric, train and validation
// series, axes rescaled to the data on every redraw. Redraws are cheap (a few hundred points).

export interface Series {
  label: string;
  color: string;
  /** [x, y] points, x increasing (x is the step count). */
  points: [number, number][];
  dashed?: boolean;
}

export class LineChart {
  readonly series: Series[];
  private readonly ctx: CanvasRenderingContext2D;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly title: string,
    series: Omit<Series, 'points'>[],
    private readonly yRange?: [number, number],
  ) {
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new Error('2D canvas is not available in this browser.');
    this.ctx = ctx;
    this.series = series.map((s) => ({ ...s, points: [] }));
    this.draw();
  }

  add(label: string, x: number, y: number): void {
    if (!Number.isFinite(y)) return;
    this.series.find((s) => s.label === label)?.points.push([x, y]);
  }

  clear(): void {
    for (const s of this.series) s.points.length = 0;
    this.draw();
  }

  draw(): void {
    const { ctx, canvas } = this;
    const W = canvas.width;
    const H = canvas.height;
    const pad = { l: 44, r: 10, t: 22, b: 22 };
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, W, H);
    ctx.fillStyle = '#222';
    ctx.font = '13px system-ui, sans-serif';
    ctx.fillText(this.title, pad.l, 15);

    const all = this.series.flatMap((s) => s.points);
    const xs = all.map((p) => p[0]);
    const ys = all.map((p) => p[1]);
    const x0 = 0;
    const x1 = Math.max(1, ...xs);
    const [y0, yTop] = this.yRange ?? [Math.min(0, ...ys), Math.max(1e-6, ...ys)];
    const y1 = yTop - y0 < 1e-9 ? y0 + 1 : yTop;
    const px = (x: number) => pad.l + ((x - x0) / (x1 - x0)) * (W - pad.l - pad.r);
    const py = (y: number) => H - pad.b - ((y - y0) / (y1 - y0)) * (H - pad.t - pad.b);

    ctx.strokeStyle = '#ccc';
    ctx.lineWidth = 1;
    ctx.fillStyle = '#555';
    ctx.font = '11px system-ui, sans-serif';
    for (let i = 0; i <= 4; i++) {
      const y = y0 + ((y1 - y0) * i) / 4;
      ctx.beginPath();
      ctx.moveTo(pad.l, py(y));
      ctx.lineTo(W - pad.r, py(y));
      ctx.stroke();
      ctx.fillText(y.toPrecision(2), 4, py(y) + 4);
    }
    ctx.fillText(`step ${x1}`, W - pad.r - 60, H - 6);

    // A summary for tests and assistive tech: first and last value of each series.
    this.canvas.dataset.series = JSON.stringify(
      this.series.map((s) => ({
        label: s.label,
        n: s.points.length,
        first: s.points[0]?.[1],
        last: s.points.at(-1)?.[1],
      })),
    );
    let legendX = pad.l + 150;
    for (const s of this.series) {
      ctx.strokeStyle = s.color;
      ctx.lineWidth = 2;
      ctx.setLineDash(s.dashed ? [6, 4] : []);
      ctx.beginPath();
      s.points.forEach(([x, y], i) => (i === 0 ? ctx.moveTo(px(x), py(y)) : ctx.lineTo(px(x), py(y))));
      if (s.points.length === 1) {
        const [x, y] = s.points[0];
        ctx.arc(px(x), py(y), 3, 0, 2 * Math.PI);
      }
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = s.color;
      ctx.fillRect(legendX, 8, 12, 4);
      ctx.fillStyle = '#222';
      ctx.fillText(s.label, legendX + 16, 14);
      legendX += 24 + ctx.measureText(s.label).width;
    }
  }
}
