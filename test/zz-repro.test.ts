import { it, expect } from 'vitest';
import { createTestApp } from './helpers/index.js';
it('repro', async () => {
  const t = await createTestApp();
  for (const [m, p] of [['GET', '/logout'], ['HEAD', '/account/password'], ['PUT', '/login'], ['DELETE','/']]) {
    const r = await t.fetch(p!, { method: m });
    console.log(m, p, r.status, r.headers.get('allow'));
  }
  const deep = '['.repeat(200000) + ']'.repeat(200000);
  const r = await t.fetch('/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"a":${deep}}` });
  console.log('deep', r.status, await r.text().then(x=>x.slice(0,100)));
  console.log(t.logs.filter(l => (l.level as number) >= 50).map(l => JSON.stringify(l).slice(0,400)));
  await t.close();
});
