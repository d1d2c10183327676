import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { ROOT, tempDir } from './index.js';

/**
 * Real-browser journeys: Debian's Chromium driven by playwright-core (never a downloaded browser).
 * One BrowserRun per journey records every console error, page error, failed request and
 * unexpected HTTP error of every page it opened; `step()` takes a numbered screenshot, audits the
 * page (labels, contrast, phone width) and fails the test on anything recorded so far.
 */
export const CHROMIUM = '/usr/bin/chromium';
export const PHONE = { width: 390, height: 844 } as const;
export const DESKTOP = { width: 1280, height: 800 } as const;

export function chromiumArgs(): string[] {
  const args = ['--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic', '--disable-gpu', '--disable-dev-shm-usage'];
  if (process.getuid?.() === 0) args.unshift('--no-sandbox');
  return args;
}

interface Expected {
  status: number;
  url: RegExp;
}

export interface AuditOptions {
  /** The page is shown at phone width: it must not scroll sideways. */
  phone?: boolean;
}

export class BrowserRun {
  readonly problems: string[] = [];
  private readonly expected: Expected[] = [];
  private readonly contexts: BrowserContext[] = [];
  /** Contexts without JavaScript, where axe (which waits on timers) cannot run. */
  private readonly scriptless = new WeakSet<BrowserContext>();
  private readonly failed: Array<{ url: string; text: string; aborted: boolean }> = [];
  private readonly downloads = new Set<string>();
  private readonly pending: Array<Promise<void>> = [];
  private count = 0;

  private constructor(
    readonly browser: Browser,
    readonly journey: string,
    readonly screenshots: string,
  ) {}

  static async start(journey: string): Promise<BrowserRun> {
    const screenshots = path.join(ROOT, 'test-results', 'screenshots', journey);
    rmSync(screenshots, { recursive: true, force: true });
    mkdirSync(screenshots, { recursive: true });
    process.stdout.write(`[browser] ${journey}: screenshots in ${screenshots}\n`);
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: chromiumArgs(), timeout: 30_000 });
    return new BrowserRun(browser, journey, screenshots);
  }

  /** An HTTP error the test provokes on purpose (it is then not counted as a problem). */
  expect(status: number, url: RegExp): void {
    this.expected.push({ status, url });
  }

  private isExpected(status: number, url: string): boolean {
    return this.expected.some((e) => e.status === status && e.url.test(url));
  }

  /** A fresh context (own cookies; `state` carries a signed-in session over) and its first page. */
  async open(kind: 'phone' | 'desktop', options: { javaScript?: boolean; state?: BrowserContext; viewport?: { width: number; height: number } } = {}): Promise<Page> {
    const context = await this.browser.newContext({
      viewport: options.viewport ?? (kind === 'phone' ? PHONE : DESKTOP),
      ...(kind === 'phone' ? { isMobile: true, hasTouch: true, deviceScaleFactor: 2 } : {}),
      javaScriptEnabled: options.javaScript ?? true,
      acceptDownloads: true,
      ...(options.state ? { storageState: await options.state.storageState() } : {}),
    });
    this.contexts.push(context);
    if (options.javaScript === false) this.scriptless.add(context);
    const label = `${kind}${options.javaScript === false ? ', no JavaScript' : ''}`;
    context.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      const url = msg.location().url;
      // Chromium logs every HTTP error as "Failed to load resource"; expected ones are fine.
      if (/^Failed to load resource: the server responded with a status of (\d+)/.test(msg.text())) {
        const status = Number(/status of (\d+)/.exec(msg.text())![1]);
        if (this.isExpected(status, url)) return;
      }
      this.problems.push(`console error (${label}) at ${url}: ${msg.text()}`);
    });
    context.on('weberror', (err) => this.problems.push(`page error (${label}): ${err.error().message}`));
    context.on('page', (page) => page.on('download', (d) => this.downloads.add(d.url())));
    context.on('requestfailed', (req) => {
      const failure = req.failure()?.errorText ?? 'failed';
      // EventSource.close() (live.js, once the result is in) aborts its own open stream.
      if (failure === 'net::ERR_ABORTED' && req.resourceType() === 'eventsource') return;
      // The browser's own favicon fetch (type "other") is cancelled when a key press or click
      // navigates before it finished: nothing a reader would see is missing.
      if (failure === 'net::ERR_ABORTED' && req.resourceType() === 'other' && /\/favicon\.[0-9a-f]+\.svg$/.test(new URL(req.url()).pathname)) return;
      // A script's poll cut short because its page navigated away (the lecturer leaves a page that
      // polls re-run progress) ended with the page it belonged to.
      if (failure === 'net::ERR_ABORTED' && (req.resourceType() === 'fetch' || req.resourceType() === 'xhr')) {
        const from = req.headers().referer;
        let now: string | undefined;
        try {
          now = req.frame().url();
        } catch {
          now = undefined;
        }
        if (from && now !== from) return;
      }
      const entry = { url: req.url(), text: `request failed (${label}): ${req.method()} ${req.url()} (${req.resourceType()}): ${failure}`, aborted: failure === 'net::ERR_ABORTED' };
      this.failed.push(entry);
      // A script's request whose answer had already arrived is reported aborted when the page it
      // came from navigates away a moment later (upload-progress.js goes to the page its upload
      // was redirected to): seen under load. Only one with a response below 400 is let through.
      if (entry.aborted && (req.resourceType() === 'xhr' || req.resourceType() === 'fetch')) {
        this.pending.push(
          req.response().then(
            (res) => {
              if (res && res.status() < 400) this.failed.splice(this.failed.indexOf(entry), 1);
            },
            () => undefined,
          ),
        );
      }
    });
    context.on('response', (res) => {
      if (res.status() >= 400 && !this.isExpected(res.status(), res.url())) this.problems.push(`HTTP ${res.status()} (${label}): ${res.request().method()} ${res.url()}`);
    });
    return context.newPage();
  }

  /** Fails the test with everything recorded so far. */
  async assertClean(where = ''): Promise<void> {
    await Promise.all(this.pending.splice(0));
    // A download hands its response over to the download manager and the request reports
    // "aborted"; the download itself is checked by the test. (Known only once the download began.)
    for (const f of this.failed.splice(0)) if (!(f.aborted && this.downloads.has(f.url))) this.problems.push(f.text);
    if (this.problems.length) throw new Error(`${this.journey}${where ? ` (${where})` : ''}: ${this.problems.length} browser problem(s):\n  ${this.problems.join('\n  ')}`);
  }

  /** A numbered full-page screenshot, the page audit, and no problems so far. */
  async step(page: Page, name: string, audit: AuditOptions = {}): Promise<string> {
    this.count += 1;
    const file = path.join(this.screenshots, `${String(this.count).padStart(2, '0')}-${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    const found = [...(await auditPage(page, audit)), ...(this.scriptless.has(page.context()) ? [] : await axeAudit(page))];
    if (found.length) this.problems.push(...found.map((f) => `${name} (${page.url()}): ${f}`));
    await this.assertClean(name);
    return file;
  }

  async close(): Promise<void> {
    for (const c of this.contexts.splice(0)) await c.close().catch(() => undefined);
    await this.browser.close();
  }
}

/**
 * What a person with a screen reader, a phone, weaker eyes or no JavaScript needs from every page:
 * form controls with labels, buttons with names, buttons and links that work without a script, no
 * sideways scrolling at phone width, no element wider than the region that scrolls it, and WCAG AA contrast (4.5:1, 3:1 for large text) for every visible
 * text, measured from the computed styles.
 */
export async function auditPage(page: Page, options: AuditOptions = {}): Promise<string[]> {
  return page.evaluate((phone: boolean) => {
    const problems: string[] = [];
    const visible = (el: Element): boolean => {
      const s = getComputedStyle(el);
      const r = el.getBoundingClientRect();
      return s.display !== 'none' && s.visibility !== 'hidden' && r.width > 0 && r.height > 0 && !(el as HTMLElement).closest('[hidden]');
    };
    const describe = (el: Element): string => {
      const id = el.id ? `#${el.id}` : '';
      const name = el.getAttribute('name') ? `[name=${el.getAttribute('name')}]` : '';
      const cls = typeof (el as HTMLElement).className === 'string' && (el as HTMLElement).className ? `.${(el as HTMLElement).className.trim().split(/\s+/).join('.')}` : '';
      const text = (el.textContent ?? '').trim().replace(/\s+/g, ' ').slice(0, 40);
      return `<${el.tagName.toLowerCase()}${id}${name}${cls}>${text ? ` "${text}"` : ''}`;
    };
    const byIds = (ids: string | null): string =>
      (ids ?? '')
        .split(/\s+/)
        .map((id) => (id ? (document.getElementById(id)?.textContent ?? '') : ''))
        .join(' ')
        .trim();

    // Labels.
    for (const el of document.querySelectorAll<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>('input:not([type=hidden]), select, textarea')) {
      if (!visible(el)) continue;
      if (el instanceof HTMLInputElement && ['submit', 'button', 'reset'].includes(el.type) && el.value.trim()) continue;
      const labelled = [...(el.labels ?? [])].some((l) => (l.textContent ?? '').trim() !== '') || (el.getAttribute('aria-label') ?? '').trim() !== '' || byIds(el.getAttribute('aria-labelledby')) !== '';
      if (!labelled) problems.push(`form control without a label: ${describe(el)}`);
    }
    for (const el of document.querySelectorAll('button, a[href]')) {
      if (!visible(el)) continue;
      const name = (el.textContent ?? '').trim() || el.getAttribute('aria-label') || byIds(el.getAttribute('aria-labelledby')) || el.querySelector('img[alt]')?.getAttribute('alt') || el.getAttribute('title');
      if (!name) problems.push(`${el.tagName.toLowerCase()} without an accessible name: ${describe(el)}`);
    }

    // Without JavaScript: a control only a script can act on does nothing.
    for (const el of document.querySelectorAll('button, a[href]')) {
      if (!visible(el)) continue;
      if (el.tagName === 'A' && /^(javascript:|#$)/i.test(el.getAttribute('href') ?? '')) problems.push(`link that needs JavaScript: ${describe(el)}`);
      if (el.tagName === 'BUTTON' && (!(el as HTMLButtonElement).form || (el as HTMLButtonElement).type === 'button')) problems.push(`button that needs JavaScript (no form to submit): ${describe(el)}`);
    }

    // Phone width.
    if (phone) {
      // The layout viewport: a mobile browser widens window.innerWidth to fit wide content.
      const viewport = document.documentElement.clientWidth;
      const width = document.documentElement.scrollWidth;
      if (width > viewport) {
        // The culprits: too wide, not inside something that scrolls or clips, parent not too wide.
        const clipped = (el: Element): boolean => {
          for (let e = el.parentElement; e && e !== document.body; e = e.parentElement) if (getComputedStyle(e).overflowX !== 'visible') return true;
          return false;
        };
        const wide = [...document.querySelectorAll('body *')]
          .filter((el) => visible(el) && el.getBoundingClientRect().right > viewport + 1 && !clipped(el))
          .filter((el) => !el.parentElement || el.parentElement.getBoundingClientRect().right <= viewport + 1)
          .slice(0, 5)
          .map(describe);
        problems.push(`scrolls sideways at ${viewport} px (content is ${width} px wide): ${wide.join(', ')}`);
      }
    }

    // Wider than its container, at any width: a region that scrolls or clips sideways hides what
    // does not fit (a long line of output pushing a table's Result column out of view). Only a
    // region marked as meant to scroll (data-wide: a gradebook with a column per assignment) and
    // code blocks may; code blocks are made keyboard-reachable (axe checks that).
    for (const el of document.querySelectorAll('body *')) {
      if (!visible(el) || el.closest('pre, [data-wide]')) continue;
      const s = getComputedStyle(el);
      if (s.overflowX === 'visible') continue;
      if (el.scrollWidth <= el.clientWidth + 1) continue;
      const box = el.getBoundingClientRect();
      const inside = [...el.querySelectorAll('*')].filter((c) => visible(c) && c.getBoundingClientRect().right > box.right + 1);
      const outermost = inside.filter((c) => !inside.includes(c.parentElement!)).slice(0, 3).map(describe);
      problems.push(`wider than its container (${el.scrollWidth} px in ${el.clientWidth} px): ${describe(el)} holds ${outermost.join(', ')}`);
    }

    // Contrast.
    type Rgba = [number, number, number, number];
    const parse = (c: string): Rgba | null => {
      const m = /rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)(?:\s*[,/]\s*([\d.]+%?))?\s*\)/.exec(c);
      if (!m) return null;
      const a = m[4] === undefined ? 1 : m[4].endsWith('%') ? Number(m[4].slice(0, -1)) / 100 : Number(m[4]);
      return [Number(m[1]), Number(m[2]), Number(m[3]), a];
    };
    const over = (top: Rgba, bottom: Rgba): Rgba => {
      const a = top[3];
      return [top[0] * a + bottom[0] * (1 - a), top[1] * a + bottom[1] * (1 - a), top[2] * a + bottom[2] * (1 - a), 1];
    };
    const background = (el: Element): { colour: Rgba; image: boolean } => {
      const layers: Rgba[] = [];
      let image = false;
      for (let e: Element | null = el; e; e = e.parentElement) {
        const s = getComputedStyle(e);
        if (s.backgroundImage && s.backgroundImage !== 'none') image = true;
        const c = parse(s.backgroundColor);
        if (c && c[3] > 0) {
          layers.push(c);
          if (c[3] >= 1) break;
        }
      }
      let colour: Rgba = [255, 255, 255, 1];
      for (const layer of layers.reverse()) colour = over(layer, colour);
      return { colour, image };
    };
    const luminance = (c: Rgba): number => {
      const f = (v: number) => {
        const x = v / 255;
        return x <= 0.04045 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
    };
    const ratio = (a: Rgba, b: Rgba): number => {
      const [l1, l2] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
      return (l1 + 0.05) / (l2 + 0.05);
    };
    const opacity = (el: Element): number => {
      let o = 1;
      for (let e: Element | null = el; e; e = e.parentElement) o *= Number(getComputedStyle(e).opacity);
      return o;
    };
    const seen = new Set<string>();
    const report = (el: Element, value: number, needed: number, colour: string, bg: Rgba) => {
      const key = `${colour}|${bg.join(',')}|${el.tagName}`;
      if (seen.has(key)) return;
      seen.add(key);
      problems.push(`contrast ${value.toFixed(2)}:1 < ${needed}:1 for ${describe(el)} (${colour} on rgb(${bg.slice(0, 3).map(Math.round).join(', ')}))`);
    };
    // Text drawn in inline SVG (charts) is measured by its fill, over the page behind the drawing.
    for (const el of document.querySelectorAll('svg text')) {
      if (!visible(el) || !(el.textContent ?? '').trim()) continue;
      const s = getComputedStyle(el);
      const fill = parse(s.fill);
      if (!fill) continue;
      const bg = background(el.closest('svg')!);
      const fg: Rgba = [fill[0], fill[1], fill[2], fill[3] * Number(s.fillOpacity || 1) * opacity(el)];
      const value = ratio(over(fg, bg.colour), bg.colour);
      if (!bg.image && value + 1e-9 < 4.5) report(el, value, 4.5, s.fill, bg.colour);
    }
    for (const el of document.querySelectorAll('body *')) {
      if (['SCRIPT', 'STYLE', 'NOSCRIPT', 'OPTION'].includes(el.tagName) || el.closest('svg, math, .katex-mathml')) continue;
      const ownText = [...el.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && (n.textContent ?? '').trim() !== '');
      const isControl = el.matches('input:not([type=hidden]):not([type=file]), select, textarea');
      if ((!ownText && !isControl) || !visible(el)) continue;
      if ((el as HTMLButtonElement).disabled) continue;
      // The skip link sits off-screen until it gets the focus.
      const r = el.getBoundingClientRect();
      if (r.right < 0 || r.bottom < 0) continue;
      const s = getComputedStyle(el);
      const fg = parse(s.color);
      if (!fg) continue;
      const bg = background(el);
      if (bg.image) continue;
      const text: Rgba = [fg[0], fg[1], fg[2], fg[3] * opacity(el)];
      const value = ratio(over(text, bg.colour), bg.colour);
      const size = parseFloat(s.fontSize);
      const bold = Number(s.fontWeight) >= 700;
      const large = size >= 24 || (bold && size >= 18.66);
      const needed = large ? 3 : 4.5;
      if (value + 1e-9 < needed) report(el, value, needed, s.color, bg.colour);
    }
    return problems;
  }, options.phone ?? false);
}

let axeSource: string | undefined;

/**
 * axe-core, a checker nobody here wrote, on the page as it is: every serious or critical finding
 * (WCAG A/AA and best practice) with the elements concerned. Evaluated through the DevTools
 * protocol, so the page's Content-Security-Policy stays as served.
 */
export async function axeAudit(page: Page): Promise<string[]> {
  axeSource ??= readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  const loaded = await page.evaluate(() => typeof (window as unknown as { axe?: unknown }).axe === 'object');
  if (!loaded) await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(context: Document, options: object): Promise<{ violations: Array<{ id: string; impact: string | null; help: string; nodes: Array<{ target: unknown[] }> }> }> } }).axe;
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.slice(0, 3).map((n) => JSON.stringify(n.target)) }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `axe ${v.impact} ${v.id}: ${v.help} at ${v.targets.join(', ')}`);
}

/** Temp folders of one test file, removed at the end. */
export function scratch(): { dir(prefix: string): string; track(dir: string): string; cleanup(): void } {
  const dirs: string[] = [];
  return {
    dir(prefix) {
      const d = tempDir(prefix);
      dirs.push(d);
      return d;
    },
    track(d) {
      dirs.push(d);
      return d;
    },
    cleanup() {
      for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    },
  };
}
