import { requireRole, requireUser } from '../../lib/auth.js';
import { UserError } from '../../lib/errors.js';
import type { AppContext, AppRouter, Deps } from '../../plugin.js';
import { listOutbox, outboxCounts, type OutboxRow } from './outbox.js';

/** What staff see of the outbox: who, what, when, and whether it went; never the body. */
function view(row: OutboxRow) {
  return {
    id: row.id,
    kind: row.kind,
    course: row.course,
    recipient: row.recipient,
    subject: row.subject,
    status: row.status === 'sending' ? 'queued' : row.status,
    attempts: row.attempts,
    createdAt: row.created_at,
    sentAt: row.sent_at,
    nextAttemptAt: row.status === 'sent' || row.status === 'failed' ? null : row.next_attempt_at,
    error: row.last_error,
  };
}

export function mailRoutes(router: AppRouter, deps: Deps): void {
  function render(ctx: AppContext, course: { slug: string; title: string; code?: string } | null) {
    const scope = course ? course.slug : null;
    ctx.set('Cache-Control', 'no-store');
    ctx.render('mail/outbox.njk', {
      course,
      enabled: deps.config.mail !== null,
      counts: outboxCounts(deps.db, scope),
      messages: listOutbox(deps.db, scope).map(view),
      timezone: course ? deps.content.course(course.slug)?.timezone : undefined,
      isStaffView: true,
    });
  }

  router.get('/courses/:course/mail', (ctx) => {
    const course = deps.content.course(ctx.params.course ?? '');
    if (!course) throw new UserError(404, 'There is no such course.');
    requireRole(ctx, course.slug, ['lecturer']);
    render(ctx, course);
  });

  router.get('/admin/mail', (ctx) => {
    const user = requireUser(ctx);
    if (!user.isAdmin) throw new UserError(404, 'Not found.');
    render(ctx, null);
  });
}
