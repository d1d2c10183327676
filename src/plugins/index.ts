import type { Plugin } from '../plugin.js';
import accounts from './accounts/index.js';
import assignments from './assignments/index.js';
import audit from './audit/index.js';
import autotest from './autotest/index.js';
import courses from './courses/index.js';
import environments from './environments/index.js';
import gradebook from './gradebook/index.js';
import mail from './mail/index.js';
import metrics from './metrics/index.js';
import pages from './pages/index.js';
import restart from './restart/index.js';
import review from './review/index.js';
import submissions from './submissions/index.js';
import similarity from './similarity/index.js';
import teams from './teams/index.js';

/**
 * The one registry. Order matters: middleware runs in this order, routes are matched in this
 * order, and background work stops in reverse order at shutdown.
 */
// restart first: the deploy hook's /restart is answered before sessions and CSRF (for browsers).
// audit after accounts: its middleware records staff requests once the session has said who they are.
export const plugins: Plugin[] = [restart, metrics, accounts, mail, assignments, environments, submissions, autotest, review, audit, gradebook, teams, similarity, courses, pages];
