import type { Variant, VariantUser } from './variants.js';

/**
 * The seam between course pages and assignment variants. A page may write
 * `{{ variant("caesar").shift }}`; the pages plugin finds those calls when it compiles a page and
 * asks this service for each before rendering (making a variant may run the generator in the
 * sandbox, and nunjucks renders synchronously). The assignments plugin provides it; an app
 * without that plugin has none, and `variant("x")` is then `{}` with a note for staff.
 */
export interface VariantRequest {
  /** Course slug. */
  course: string;
  /** Assignment slug, as written in the page. */
  slug: string;
  /** Whose variant: the reader, or the student a lecturer is viewing the page as (a CurrentUser fits). */
  user: VariantUser;
}

export interface VariantService {
  /**
   * The variant (its `params` are what a page uses), made on first use; null when the course has
   * no assignment with that slug or its generator failed.
   */
  resolve(request: VariantRequest): Promise<Variant | null>;
}

declare module '../../plugin.js' {
  interface Services {
    /** Optional: course pages work without assignments. */
    variants?: VariantService;
  }
}
