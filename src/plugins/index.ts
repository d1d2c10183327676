import type { Plugin } from '../plugin.js';
import pages from './pages/index.js';

/**
 * The one registry. Order matters: middleware runs in this order, routes are matched in this
 * order, and background work stops in reverse order at shutdown.
 */
export const plugins: Plugin[] = [pages];
