import type { Plugin } from '../../plugin.js';
import { assignmentCommand } from './cli.js';
import { importCourseFolders, sweepUploads } from './folder-import.js';
import type { FolderProblems } from './present.js';
import { assignmentRoutes } from './routes.js';
import type { AssignmentsApp } from './state.js';
import type { VariantService } from './variant-service.js';
import { makeVariant, newVariantRuns } from './variants.js';

/** Assignment bundles and their versions, students' variants, the staff pages. Provides `variants`. */
const assignments: Plugin = {
  name: 'assignments',
  commands: { assignment: assignmentCommand },
  create(deps) {
    const folderProblems: FolderProblems = new Map();
    const app: AssignmentsApp = { deps, folderProblems, runs: newVariantRuns() };
    const variants: VariantService = { resolve: (req) => makeVariant(deps, app.runs, req) };
    return {
      provides: { variants },
      routes: (r) => assignmentRoutes(r, app),
      // Each web worker re-reads the course's bundle folders (unchanged ones are not written
      // again) to show their problems to lecturers, and sweeps only hour-old upload leftovers.
      startsInEveryWorker: true,
      async start() {
        await sweepUploads(deps);
        await importCourseFolders(deps, folderProblems);
        return async () => undefined;
      },
    };
  },
};

export default assignments;
