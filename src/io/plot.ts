// Line charts as a standalone SVG file (no plotting library): one panel per metric side by side,
// shared x axis, "nice" 1-2-5 ticks, a legend per panel. Any browser or image viewer opens it.

export interface Series {
  name: string;
  color: string;
  points: [number, number][];
  dashed?: boolean;
  /** Draw a dot at every point (for sparse series such as per-epoch validation). */
  dots?: boolean;
}

export interface Panel {
  title: string;
  series: Series[];
  /** Format of y tick labels, e.g. percentages. */
  yFormat?: (v: number) => string;
}

const W = 460;
const H = 320;
const M = { left: 58, right: 16, top: 36, bottom: 46 };

/** Tick values covering [lo, hi] with a 1, 2 or 5 x 10^k step. */
export function niceTicks(lo: number, hi: number, target = 5): number[] {
  if (!(hi > lo)) {
    const pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1;
    return niceTicks(lo - pad, hi + pad, target);
  }
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.floor(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  if (out[out.length - 1] < hi) out.push(+(out[out.length - 1] + step).toPrecision(12));
  return out;
}

const esc = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function panelSvg(p: Panel, x0: number, xLabel: string): string {
  const pts = p.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xs = pts.map((q) => q[0]);
  const ys = pts.map((q) => q[1]);
  const xt = niceTicks(Math.min(0, ...xs), xs.length ? Math.max(...xs) : 1);
  const yt = niceTicks(ys.length ? Math.min(...ys) : 0, ys.length ? Math.max(...ys) : 1);
  const [xa, xb] = [xt[0], xt[xt.length - 1]];
  const [ya, yb] = [yt[0], yt[yt.length - 1]];
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const sx = (x: number) => x0 + M.left + ((x - xa) / (xb - xa)) * pw;
  const sy = (y: number) => M.top + ph - ((y - ya) / (yb - ya)) * ph;
  const fmt = p.yFormat ?? ((v: number) => String(+v.toPrecision(4)));
  const parts: string[] = [];
  parts.push(
    `<text x="${x0 + W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(p.title)}</text>`,
  );
  for (const v of yt) {
    const y = sy(v).toFixed(1);
    parts.push(`<line x1="${x0 + M.left}" x2="${x0 + W - M.right}" y1="${y}" y2="${y}" stroke="#e4e4e4"/>`);
    parts.push(
      `<text x="${x0 + M.left - 6}" y="${y}" dy="4" text-anchor="end" font-size="11">${esc(fmt(v))}</text>`,
    );
  }
  for (const v of xt) {
    const x = sx(v).toFixed(1);
    parts.push(`<line x1="${x}" x2="${x}" y1="${M.top}" y2="${M.top + ph}" stroke="#f0f0f0"/>`);
    parts.push(`<text x="${x}" y="${M.top + ph + 16}" text-anchor="middle" font-size="11">${v}</text>`);
  }
  parts.push(
    `<rect x="${x0 + M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`,
    `<text x="${x0 + M.left + pw / 2}" y="${H - 8}" text-anchor="middle" font-size="12">${esc(xLabel)}</text>`,
  );
  p.series.forEach((s, i) => {
    const good = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (good.length > 0) {
      const d = good.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
      const dash = s.dashed ? ' stroke-dasharray="5,3"' : '';
      parts.push(`<polyline points="${d}" fill="none" stroke="${s.color}" stroke-width="1.6"${dash}/>`);
      if (s.dots || good.length === 1)
        for (const [x, y] of good)
          parts.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="2.8" fill="${s.color}"/>`);
    }
    const ly = M.top + 14 + i * 16;
    const lx = x0 + W - M.right - 150;
    parts.push(
      `<line x1="${lx}" x2="${lx + 18}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5,3"' : ''}/>`,
      `<text x="${lx + 24}" y="${ly}" font-size="11">${esc(s.name)}</text>`,
    );
  });
  return parts.join('\n');
}

/** A complete SVG document with the panels side by side. */
export function chartsSvg(panels: Panel[], xLabel: string, caption?: string): string {
  const width = W * panels.length;
  const height = H + (caption ? 22 : 0);
  const body = panels.map((p, i) => panelSvg(p, i * W, xLabel)).join('\n');
  const cap = caption
    ? `<text x="${width / 2}" y="${H + 14}" text-anchor="middle" font-size="11" fill="#555">${esc(caption)}</text>`
    : '';
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">\n` +
    `<rect width="100%" height="100%" fill="white"/>\n${body}\n${cap}\n</svg>\n`
  );
}
