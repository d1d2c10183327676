/** TRANSITION: src/cli.ts imports runWorker from here; its home is ./run/worker-command.ts. */
export { runWorker, workerCommand } from './run/worker-command.js';
