import type { Version } from '../assignments/store.js';
import type { EnvironmentState } from './store.js';

/** What the staff page shows of a version's environment. */
export interface EnvironmentStatus {
  hash: string;
  state: EnvironmentState | 'unknown';
  progress: string;
  error: string | null;
  size: string | null;
  debian: string[];
  python: string[];
  npm: string[];
}

/**
 * What the environments plugin offers the others: the assignments plugin tells it of a new
 * version and shows a version's environment on its staff page; grading runs in a built one.
 */
export interface EnvironmentService {
  /** A version that needs an environment was just imported: wake the build loop. */
  kick(): void;
  /** A version's environment as the staff page shows it; null when it runs on the host's /usr. */
  status(version: Version): EnvironmentStatus | null;
  /**
   * The root a job runs in, once its environment is built (the job keeps its grader and its
   * lease meanwhile); null for the host's /usr. A failed build makes the job "could not be graded".
   */
  use(version: Version, signal?: AbortSignal): Promise<{ root: string; release(): void } | null>;
}

declare module '../../plugin.js' {
  interface Services {
    /** Optional: an app without the environments plugin runs every version on the host's /usr. */
    environments?: EnvironmentService;
  }
}
