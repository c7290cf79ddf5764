// A small line plot on a canvas: axes with ticks, several series, a vertical marker.

function ticks(lo, hi, n) {
  const span = hi - lo || 1;
  const raw = span / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => span / s <= n) ?? 10 * mag;
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-9 * span; t += step) out.push(+t.toPrecision(12));
  return out;
}

/**
 * @param {HTMLCanvasElement} canvas
 * @param {{xs: ArrayLike<number>, series: {ys: ArrayLike<number>, color: string, label: string}[],
 *          marker?: number, xLabel?: string}} spec
 */
export function linePlot(canvas, spec) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || canvas.width;
  const hgt = canvas.clientHeight || canvas.height;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(hgt * dpr);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, hgt);
  const pad = { l: 56, r: 14, t: 12, b: 34 };
  const xs = spec.xs;
  let ylo = Infinity;
  let yhi = -Infinity;
  for (const s of spec.series) for (const y of s.ys) { ylo = Math.min(ylo, y); yhi = Math.max(yhi, y); }
  if (!Number.isFinite(ylo)) { ylo = 0; yhi = 1; }
  if (yhi - ylo < 1e-12) { ylo -= 0.5; yhi += 0.5; }
  const margin = 0.06 * (yhi - ylo);
  ylo -= margin; yhi += margin;
  const xlo = xs[0];
  const xhi = xs[xs.length - 1];
  const X = (x) => pad.l + ((x - xlo) / (xhi - xlo || 1)) * (w - pad.l - pad.r);
  const Y = (y) => hgt - pad.b - ((y - ylo) / (yhi - ylo)) * (hgt - pad.t - pad.b);
  ctx.font = '11px system-ui, sans-serif';
  ctx.strokeStyle = '#d9dee7';
  ctx.fillStyle = '#5b6475';
  ctx.lineWidth = 1;
  for (const t of ticks(ylo, yhi, 6)) {
    ctx.beginPath(); ctx.moveTo(pad.l, Y(t)); ctx.lineTo(w - pad.r, Y(t)); ctx.stroke();
    ctx.textAlign = 'right'; ctx.fillText(String(t), pad.l - 6, Y(t) + 4);
  }
  for (const t of ticks(xlo, xhi, 8)) {
    ctx.beginPath(); ctx.moveTo(X(t), hgt - pad.b); ctx.lineTo(X(t), hgt - pad.b + 4); ctx.stroke();
    ctx.textAlign = 'center'; ctx.fillText(String(t), X(t), hgt - pad.b + 16);
  }
  if (spec.xLabel) { ctx.textAlign = 'right'; ctx.fillText(spec.xLabel, w - pad.r, hgt - 4); }
  ctx.strokeStyle = '#8a93a5';
  ctx.beginPath(); ctx.moveTo(pad.l, pad.t); ctx.lineTo(pad.l, hgt - pad.b); ctx.lineTo(w - pad.r, hgt - pad.b); ctx.stroke();
  if (ylo < 0 && yhi > 0) {
    ctx.setLineDash([4, 4]); ctx.beginPath(); ctx.moveTo(pad.l, Y(0)); ctx.lineTo(w - pad.r, Y(0)); ctx.stroke(); ctx.setLineDash([]);
  }
  spec.series.forEach((s, k) => {
    ctx.strokeStyle = s.color; ctx.lineWidth = 2; ctx.beginPath();
    for (let i = 0; i < xs.length; i++) {
      const px = X(xs[i]); const py = Y(s.ys[i]);
      if (i === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
    }
    ctx.stroke();
    ctx.fillStyle = s.color; ctx.textAlign = 'left';
    ctx.fillText(s.label, pad.l + 10 + 90 * k, pad.t + 10);
  });
  if (spec.marker !== undefined) {
    ctx.strokeStyle = '#2f5fb3'; ctx.lineWidth = 1; ctx.setLineDash([2, 3]);
    ctx.beginPath(); ctx.moveTo(X(spec.marker), pad.t); ctx.lineTo(X(spec.marker), hgt - pad.b); ctx.stroke();
    ctx.setLineDash([]);
  }
}
