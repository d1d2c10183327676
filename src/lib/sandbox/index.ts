export * from './types.js';
export { createSandbox, findBwrap, sandboxAvailable, DEFAULT_LIMITS } from './sandbox.js';
export type { CreateSandboxOptions } from './sandbox.js';
