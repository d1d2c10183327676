/** TRANSITION: test/assignments/demo.test.ts imports planFor from here; its home is ./run/plan.ts. */
export { planFor } from './run/plan.js';
