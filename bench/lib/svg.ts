/** A small dependency-free SVG chart: latency samples over time on a log scale, one colour per series. */
import { percentile } from './harness';

export interface Sample {
  /** Seconds since the run started (arrival time). */
  readonly t: number;
  /** Latency in ms, or null for a request that failed (acquire timeout). */
  readonly ms: number | null;
}

export interface Series {
  readonly label: string;
  readonly color: string;
  readonly samples: readonly Sample[];
}

export interface ChartOptions {
  readonly title: string;
  readonly subtitle: string;
  /** Shaded window, seconds. */
  readonly shade: { readonly from: number; readonly to: number; readonly label: string };
  readonly durationS: number;
  /** Width of the bins of the p99 line, seconds. */
  readonly binS: number;
}

const W = 860;
const H = 420;
const M = { left: 64, right: 20, top: 56, bottom: 64 };
const Y_MIN = 0.1;
const Y_MAX = 10_000;

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function latencyChart(series: readonly Series[], o: ChartOptions): string {
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const x = (t: number): number => M.left + (Math.min(Math.max(t, 0), o.durationS) / o.durationS) * pw;
  const y = (ms: number): number => {
    const v = Math.log10(Math.min(Math.max(ms, Y_MIN), Y_MAX));
    return M.top + ph - ((v - Math.log10(Y_MIN)) / (Math.log10(Y_MAX) - Math.log10(Y_MIN))) * ph;
  };
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${M.left}" y="22" font-size="15" font-weight="600" fill="#111">${esc(o.title)}</text>`);
  out.push(`<text x="${M.left}" y="40" fill="#555">${esc(o.subtitle)}</text>`);
  // flood window
  out.push(`<rect x="${x(o.shade.from).toFixed(1)}" y="${M.top}" width="${(x(o.shade.to) - x(o.shade.from)).toFixed(1)}" height="${ph}" fill="#f4a261" fill-opacity="0.18"/>`);
  out.push(`<text x="${((x(o.shade.from) + x(o.shade.to)) / 2).toFixed(1)}" y="${M.top + 14}" text-anchor="middle" fill="#b5651d">${esc(o.shade.label)}</text>`);
  // grid and axes
  for (let e = Math.log10(Y_MIN); e <= Math.log10(Y_MAX); e++) {
    const v = 10 ** e;
    const yy = y(v).toFixed(1);
    out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${yy}" y2="${yy}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${M.left - 6}" y="${yy}" dy="4" text-anchor="end" fill="#555">${v >= 1000 ? `${v / 1000} s` : `${v} ms`}</text>`);
  }
  const step = o.durationS > 8 ? 2 : 1;
  for (let t = 0; t <= o.durationS + 1e-9; t += step) {
    const xx = x(t).toFixed(1);
    out.push(`<line x1="${xx}" x2="${xx}" y1="${M.top + ph}" y2="${M.top + ph + 4}" stroke="#888"/>`);
    out.push(`<text x="${xx}" y="${M.top + ph + 18}" text-anchor="middle" fill="#555">${t} s</text>`);
  }
  out.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  out.push(`<text x="${M.left + pw / 2}" y="${H - 30}" text-anchor="middle" fill="#333">time since start (auth request arrival)</text>`);
  out.push(`<text transform="translate(16 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle" fill="#333">auth latency (log scale)</text>`);
  // series: dots for samples, a line for the p99 of each bin, crosses at the top for timeouts
  const bins = Math.ceil(o.durationS / o.binS);
  series.forEach((s, index) => {
    const dots: string[] = [];
    for (const sample of s.samples) {
      if (sample.ms === null) {
        const xx = x(sample.t);
        const yy = M.top + 6;
        dots.push(`M${(xx - 3).toFixed(1)} ${yy - 3}l6 6m0 -6l-6 6`);
      } else {
        dots.push(`M${x(sample.t).toFixed(1)} ${y(sample.ms).toFixed(1)}h0.01`);
      }
    }
    out.push(`<path d="${dots.join('')}" stroke="${s.color}" stroke-opacity="0.35" stroke-width="2.5" stroke-linecap="round" fill="none"/>`);
    const points: string[] = [];
    for (let b = 0; b < bins; b++) {
      const from = b * o.binS;
      const inBin = s.samples.filter((p) => p.t >= from && p.t < from + o.binS);
      if (inBin.length === 0) continue;
      // A timed-out request counts as the longest wait of its bin.
      const latencies = inBin.map((p) => (p.ms === null ? Y_MAX : p.ms)).sort((a, c) => a - c);
      points.push(`${x(from + o.binS / 2).toFixed(1)},${y(percentile(latencies, 0.99)).toFixed(1)}`);
    }
    out.push(`<polyline points="${points.join(' ')}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    const ly = M.top + 34 + index * 18;
    out.push(`<line x1="${W - M.right - 250}" x2="${W - M.right - 226}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"/>`);
    out.push(`<text x="${W - M.right - 220}" y="${ly}" dy="4" fill="#222">${esc(s.label)}</text>`);
  });
  out.push(`<text x="${M.left}" y="${H - 10}" fill="#777">Dots: each auth request. Line: p99 per ${o.binS} s bin. × at the top: acquire timeout.</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
