import type { Deps } from '../../plugin.js';
import type { FolderProblems } from './present.js';
import type { VariantRuns } from './variants.js';

/** What one app's assignments plugin keeps (made in create(), handed to its handlers). */
export interface AssignmentsApp {
  deps: Deps;
  /** Problems found in the course folder at start-up, per course and slug. */
  folderProblems: FolderProblems;
  /** Generator runs in flight and recent failures. */
  runs: VariantRuns;
}
