import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderStatement } from '../../src/plugins/assignments/render.js';
import { signIn } from '../helpers/accounts.js';
import { createTestApp, type TestApp } from '../helpers/index.js';

/**
 * Values substituted into an assignment statement (a student's name, generated parameters) can
 * form neither HTML nor markdown: they appear as the text they are, in prose, code and links.
 */
const PHISH = '[phish](https://evil.example/) **bold** <script>x</script>';
const student = { id: '1', name: PHISH };

describe('a statement template with hostile values', () => {
  it('shows a name as text, wherever the template puts it', () => {
    const html = renderStatement('Hello {{ student.name }}!\n\n**{{ student.name }}**\n\n- {{ student.name }}\n\n`{{ student.name }}`\n', { params: {}, student });
    expect(html).not.toContain('<a ');
    expect(html).not.toContain('<strong>bold');
    expect(html).not.toContain('<script>');
    expect(html).toContain('[phish](https://evil.example/) **bold** &lt;script&gt;x&lt;/script&gt;');
    // The template's own markdown still works around the value.
    expect(html).toContain('<strong>[phish]');
    expect(html).toContain('<li>[phish]');
    expect(html).toContain('<code>[phish]');
  });

  it('keeps values in code blocks exact, and a value in a link target cannot make a script link', () => {
    const html = renderStatement('```\necho \'{{ phrase }}\' | ./caesar {{ shift }}\n```\n\n[the docs]({{ url }}) and [mail](mailto:{{ mail }})\n', {
      params: { phrase: 'a_b*c* `d` <e>', shift: -3.5, url: 'javascript:alert(1)', mail: 'a@b.example' },
      student,
    });
    expect(html).toContain("echo 'a_b*c* `d` &lt;e&gt;' | ./caesar -3.5");
    expect(html).not.toContain('javascript:');
    expect(html).toContain('href="#"');
    expect(html).toContain('href="mailto:a@b.example"');
  });

  it('leaves macro output and loops as the template wrote them', () => {
    const html = renderStatement('{% macro row(x) %}| {{ x }} |{% endmacro %}| h |\n|---|\n{% for v in vals %}{{ row(v) }}\n{% endfor %}', { params: { vals: ['*a*', 'b'] }, student });
    expect(html).toContain('<table>');
    expect(html).toContain('<td>*a*</td>');
  });
});

describe('over HTTP', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ config: { graders: 0 } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('a student whose roster name is markdown sees it as text in the caesar statement', async () => {
    const agent = await signIn(t, { name: PHISH });
    const { res, text } = await agent.get('/courses/prog1/assignments/caesar/');
    expect(res.status).toBe(200);
    expect(text).toContain('Hello [phish](https://evil.example/) **bold** &lt;script&gt;x&lt;/script&gt;!');
    expect(text).not.toContain('href="https://evil.example/"');
  }, 60_000);
});
