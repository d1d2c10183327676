import type { RouteContext } from '../../core/routes.js';
import type { AppContext, Deps } from '../../plugin.js';
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

function render(deps: Deps, ctx: AppContext, course: { slug: string; title: string; code?: string; timezone?: string } | null): void {
  const scope = course ? course.slug : null;
  ctx.set('Cache-Control', 'no-store');
  ctx.render('mail/outbox.njk', {
    course,
    enabled: deps.config.mail !== null,
    counts: outboxCounts(deps.db, scope),
    messages: listOutbox(deps.db, scope).map(view),
    timezone: course?.timezone,
    isStaffView: true,
  });
}

/** The outbox pages: a course's mail (its lecturers) and the whole site's (the administrator). */
export function outboxHandlers(deps: Deps) {
  return {
    course(ctx: RouteContext) {
      render(deps, ctx, ctx.state.course!);
    },
    site(ctx: RouteContext) {
      render(deps, ctx, null);
    },
  };
}

export type OutboxHandlers = ReturnType<typeof outboxHandlers>;
