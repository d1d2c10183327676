import type { RenderCounters } from './render-cache.js';

/**
 * How much work course pages cost in this process: source reads, markdown renders, template
 * compilations, renders and render-cache hits. Deliberately per process, not per app: they are
 * statistics (tests and benchmarks compare them before and after a request), they decide nothing,
 * and a process's work is what they measure, however many apps it holds. Everything the plugin
 * keeps that does decide something (the libraries, the caches) lives in its per-app instance.
 */
export interface PageCounters {
  /** Front matter parses (one per file version read). */
  reads: number;
  /** markdown-it renders of a page body (one per file version viewed). */
  markdown: number;
  /** nunjucks compilations (one per file version viewed). */
  compile: number;
}

/** How often page sources were read, rendered by markdown-it and compiled, in this process (tests read it). */
export const pageCounters: PageCounters = { reads: 0, markdown: 0, compile: 0 };
/** Pages rendered, and pages answered from the render cache, in this process (tests read it). */
export const renderCounters: RenderCounters = { renders: 0, hits: 0 };
