import { fileURLToPath } from 'node:url';

/**
 * The project's top folder, where views/, public/ and migrations/ live. Every folder the server
 * reads its own files from is derived here, from this one module one level below the top, so the
 * answer is the same whether it runs as dist/*.js, as src/*.ts under tsx/vitest, or bundled into
 * one file in dist/.
 */
export const PROJECT_ROOT = fileURLToPath(new URL('../', import.meta.url));
export const PUBLIC_DIR = `${PROJECT_ROOT}public/`;
export const VIEWS_DIR = `${PROJECT_ROOT}views/`;
export const MIGRATIONS_DIR = `${PROJECT_ROOT}migrations/`;
