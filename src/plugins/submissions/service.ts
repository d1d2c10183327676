import type { Db } from '../../db/open.js';
import { arrivalBins, getSubmission, submissionFiles, type Submission, type SubmissionFile } from './store.js';

/**
 * What the submissions plugin offers the others as the `submissions` service: the reads that
 * grading needs (the job's submission and its files, when submissions arrived), so that autotest
 * reaches the submissions table through its owner without importing it.
 */
export interface SubmissionsService {
  get(id: number): Submission | undefined;
  /** Name -> blob sha256 and size, sorted by name. */
  files(id: number): SubmissionFile[];
  /** Arrivals around each student's own deadline, in bins (src/plugins/autotest/forecast.ts). */
  arrivalBins(assignmentId: number, beforeMs: number, afterMs: number, binMs: number): { bins: Array<{ bin: number; n: number }>; lastHour: number };
}

declare module '../../plugin.js' {
  interface Services {
    /** Reads of submissions for other plugins (src/plugins/submissions/service.ts). */
    submissions: SubmissionsService;
  }
}

export function createSubmissionsService(db: Db): SubmissionsService {
  return {
    get: (id) => getSubmission(db, id),
    files: (id) => submissionFiles(db, id),
    arrivalBins: (assignmentId, beforeMs, afterMs, binMs) => arrivalBins(db, assignmentId, beforeMs, afterMs, binMs),
  };
}
