import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/index.js';
import { copyDemoContent } from '../helpers/content.js';
import { signIn } from '../helpers/accounts.js';

/**
 * highlight.js starts with its common languages only; a page that names another one gets them
 * all loaded before it is compiled, so the page is highlighted the first time it is shown.
 * Comments stay with the common languages whatever pages were compiled before.
 */

let t: TestApp | undefined;
let content: string | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
  if (content) rmSync(content, { recursive: true, force: true });
  content = undefined;
});

const PAGE = `---
title: Functional
visibility: public
---
# Functional

1. In a list, indented:

   \`\`\`haskell
   main :: IO ()
   main = putStrLn "hello"
   \`\`\`

\`\`\`python
print("common")
\`\`\`

\`\`\`no-such-language
plain text
\`\`\`
`;

describe('code highlighting', () => {
  it('highlights a language outside the common set on the first view of the page', async () => {
    content = copyDemoContent();
    writeFileSync(path.join(content, 'pages', 'functional.md'), PAGE);
    t = await createTestApp({ config: { contentDir: content } });
    const res = await t.fetch('/courses/prog1/functional');
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('<code class="hljs language-haskell">');
    expect(html).toMatch(/<span class="hljs-[a-z]+">main<\/span>|<span class="hljs-title[^"]*">main<\/span>/);
    expect(html).toContain('<code class="hljs language-python"><span class="hljs-built_in">print</span>');
    expect(html).toMatch(/<pre tabindex="0"><code class="language-no-such-language">plain text\n<\/code><\/pre>/);
  });

  it('comments highlight the common languages only', async () => {
    t = await createTestApp();
    const student = await signIn(t);
    await student.get('/courses/prog1/syllabus');
    const body = '```python\nprint(1)\n```\n\n```haskell\nmain = putStrLn "x"\n```';
    const post = await student.post('/courses/prog1/comments', { page: 'syllabus', body });
    expect(post.status).toBe(302);
    const { text } = await student.get('/courses/prog1/syllabus');
    expect(text).toContain('<code class="hljs language-python"><span class="hljs-built_in">print</span>');
    expect(text).toContain('<pre tabindex="0"><code class="language-haskell">main = putStrLn &quot;x&quot;\n</code></pre>');
  });
});
