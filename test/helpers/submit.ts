import type { PresentedStatus } from '../../src/plugins/autotest/present.js';
import type { Agent } from './index.js';

export interface UploadFile {
  name: string;
  content: string | Buffer;
}

/** Posts files as multipart/form-data the way the upload form does (CSRF in the action URL). */
export async function upload(agent: Agent, course: string, slug: string, files: UploadFile[], init: { accept?: string; csrf?: string | null; extra?: Record<string, string> } = {}): Promise<Response> {
  const form = new FormData();
  for (const f of files) form.append('files', new Blob([new Uint8Array(typeof f.content === 'string' ? Buffer.from(f.content) : f.content)]), f.name);
  for (const [k, v] of Object.entries(init.extra ?? {})) form.append(k, v);
  const csrf = init.csrf === undefined ? agent.csrf : init.csrf;
  const query = csrf === null ? '' : `?_csrf=${encodeURIComponent(csrf)}`;
  return agent.fetch(`/courses/${course}/assignments/${slug}/submissions${query}`, {
    method: 'POST',
    body: form,
    headers: { accept: init.accept ?? 'application/json' },
  });
}

/** What /status answers: the server's own type. */
export type StatusJson = PresentedStatus;

/** Polls a submission's status until it has a final result. */
export async function waitForResult(agent: Agent, course: string, id: number, timeoutMs = 60_000): Promise<StatusJson> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const res = await agent.fetch(`/courses/${course}/submissions/${id}/status`, { headers: { accept: 'application/json' } });
    const status = (await res.json()) as StatusJson;
    if (status.result && status.state !== 'queued' && status.state !== 'running') return status;
    if (Date.now() > until) throw new Error(`no result for submission ${id} within ${timeoutMs} ms: ${JSON.stringify(status)}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}
