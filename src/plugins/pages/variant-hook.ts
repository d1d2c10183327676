import type { CurrentUser } from '../../lib/auth.js';
import type { Deps } from '../../plugin.js';

/**
 * TRANSITION: read by nothing any more. Course pages ask the optional `variants` service
 * (src/plugins/assignments/variant-service.ts) when they render; this module-global resolver stays
 * only until src/plugins/assignments/index.ts stops registering into it, then this file goes.
 *
 * It was the seam between course pages and assignment variants.
 *
 * A page may write `{{ variant("caesar").shift }}`. nunjucks renders synchronously, but making a
 * variant is asynchronous (the generator runs in the sandbox). So the pages plugin finds the
 * literal `variant("slug")` / `variant('slug')` calls when it compiles a page, awaits the
 * resolver below for each of them before rendering, and hands the template a synchronous
 * `variant(slug)` that returns the parameters it got (an empty object otherwise).
 *
 * The assignments plugin registers the resolver once, e.g. in its routes():
 *
 *     setVariantResolver((deps, req) => ensureVariant(deps, req));
 *
 * It receives the deps of the app that is rendering (so several apps in one process, as in
 * tests, each use their own database) and returns the variant's parameters, or null when the
 * course has no assignment with that slug. Without a resolver, `variant("x")` is `{}` and staff
 * see a note on the page saying so.
 */

export interface VariantRequest {
  /** Course slug. */
  course: string;
  /** Assignment slug, as written in the page. */
  slug: string;
  /** Whose variant: the reader, or the student a lecturer is viewing the page as. */
  user: CurrentUser;
}

export type VariantResolver = (deps: Deps, request: VariantRequest) => Promise<{ params: Record<string, unknown> } | null>;

let resolver: VariantResolver | null = null;

/** Registers (or, with null, removes) the resolver. The last registration wins. */
export function setVariantResolver(fn: VariantResolver | null): void {
  resolver = fn;
}

export function getVariantResolver(): VariantResolver | null {
  return resolver;
}
