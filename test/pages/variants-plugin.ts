import type { Plugin } from '../../src/plugin.js';
import type { CurrentUser } from '../../src/lib/auth.js';
import type { VariantRequest } from '../../src/plugins/assignments/variant-service.js';
import type { Variant } from '../../src/plugins/assignments/variants.js';
import { plugins } from '../../src/plugins/index.js';

/** Course pages ask for the reader (a signed-in user) and read only a variant's params. */
export type Resolve = (request: VariantRequest & { user: CurrentUser }) => Promise<{ params: Record<string, unknown> } | null>;

/**
 * The app's plugins with the `variants` service that course pages read given by a small test
 * plugin (`resolve`), or by none (null): the assignments plugin's own is left out either way.
 */
export function withVariants(resolve: Resolve | null): Plugin[] {
  const own = plugins.map(
    (p): Plugin =>
      p.name !== 'assignments'
        ? p
        : {
            ...p,
            create(deps) {
              const instance = p.create(deps);
              const provides = { ...instance.provides };
              delete provides.variants;
              return { ...instance, provides };
            },
          },
  );
  if (!resolve) return own;
  const variants = { resolve: async (req: VariantRequest) => (await resolve(req as VariantRequest & { user: CurrentUser })) as Variant | null };
  const testVariants: Plugin = { name: 'test-variants', create: () => ({ provides: { variants } }) };
  return [testVariants, ...own];
}
