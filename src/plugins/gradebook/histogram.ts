/**
 * A score histogram as a standalone SVG document, drawn on the server. Styling is done with
 * presentation attributes only (the CSP forbids style attributes); a <title> and a <desc> that
 * lists every bar make it readable without sight.
 */
export const BINS = 10;

export interface Histogram {
  /** Students per bin: bin i holds percentages in [10i, 10i+10), the last one also 100. */
  counts: number[];
  graded: number;
  /** Students with no graded submission (not drawn). */
  ungraded: number;
}

export function binScores(percents: Array<number | null>): Histogram {
  const counts = new Array<number>(BINS).fill(0);
  let ungraded = 0;
  for (const p of percents) {
    if (p === null) {
      ungraded += 1;
      continue;
    }
    const i = Math.min(BINS - 1, Math.max(0, Math.floor(p / (100 / BINS))));
    counts[i]! += 1;
  }
  return { counts, graded: percents.length - ungraded, ungraded };
}

export function binLabel(i: number): string {
  const lo = i * (100 / BINS);
  const hi = i === BINS - 1 ? 100 : lo + 100 / BINS - 1;
  return `${lo}–${hi}%`;
}

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const WIDTH = 560;
const HEIGHT = 280;
const LEFT = 16;
const RIGHT = 16;
const TOP = 40;
const BOTTOM = 64;

/** `id` makes the title/desc ids unique when several charts share a page. */
export function histogramSvg(h: Histogram, opts: { title: string; id: string }): string {
  const id = opts.id.replace(/[^A-Za-z0-9_-]/g, '-');
  const plotW = WIDTH - LEFT - RIGHT;
  const plotH = HEIGHT - TOP - BOTTOM;
  const slot = plotW / BINS;
  const barW = slot - 8;
  const max = Math.max(1, ...h.counts);
  const baseline = TOP + plotH;
  const fmt = (n: number) => String(Math.round(n * 10) / 10);
  const bars: string[] = [];
  h.counts.forEach((n, i) => {
    const x = LEFT + i * slot + 4;
    const barH = (n / max) * plotH;
    const y = baseline - barH;
    bars.push(
      `  <g class="bin" data-bin="${i}" data-count="${n}">\n` +
        `    <rect x="${fmt(x)}" y="${fmt(y)}" width="${fmt(barW)}" height="${fmt(barH)}" fill="#0b57d0"><title>${esc(`${binLabel(i)}: ${n}`)}</title></rect>\n` +
        `    <text x="${fmt(x + barW / 2)}" y="${fmt(y - 6)}" text-anchor="middle" font-size="13" fill="#1b1f24">${n}</text>\n` +
        `    <text x="${fmt(x + barW / 2)}" y="${fmt(baseline + 18)}" text-anchor="middle" font-size="11" fill="#1b1f24">${esc(binLabel(i).replace('%', ''))}</text>\n` +
        `  </g>`,
    );
  });
  const students = (n: number) => `${n} student${n === 1 ? '' : 's'}`;
  const desc =
    `Counted scores after the late penalty, as a percentage of the maximum, of ${students(h.graded)}` +
    `${h.ungraded ? ` (${students(h.ungraded)} without a graded submission are not shown)` : ''}. ` +
    h.counts.map((n, i) => `${binLabel(i)}: ${n}`).join('; ') +
    '.';
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" role="img" aria-labelledby="${id}-title ${id}-desc" class="histogram" font-family="system-ui, sans-serif">\n` +
    `  <title id="${id}-title">${esc(opts.title)}</title>\n` +
    `  <desc id="${id}-desc">${esc(desc)}</desc>\n` +
    `  <rect x="0" y="0" width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>\n` +
    `  <text x="${LEFT}" y="22" font-size="15" font-weight="600" fill="#1b1f24">${esc(opts.title)}</text>\n` +
    `${bars.join('\n')}\n` +
    `  <line x1="${LEFT}" y1="${baseline}" x2="${WIDTH - RIGHT}" y2="${baseline}" stroke="#57606a" stroke-width="1"/>\n` +
    `  <text x="${WIDTH / 2}" y="${HEIGHT - 14}" text-anchor="middle" font-size="12" fill="#57606a">Score after late penalty, % of maximum (${esc(students(h.graded))}${h.ungraded ? `; ${h.ungraded} not graded` : ''})</text>\n` +
    `</svg>\n`
  );
}
