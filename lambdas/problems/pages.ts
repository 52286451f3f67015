import { problemSlug, problemTypes, problemTypeUri, type ProblemKind } from '../shared/problem';
import { PROBLEM_PAGES_PATH } from '../shared/problem-links';

/**
 * The problem type documentation, rendered from the catalogue in shared/problem.ts: one HTML
 * page per type and an index (served by GET /problems and /problems/{slug}), and the same
 * text as Markdown for docs/problems.md (bin/problem-docs.ts).
 */
export const problemKinds = Object.keys(problemTypes) as ProblemKind[];

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
/** The catalogue marks code with backticks, as Markdown does. */
const inlineHtml = (text: string) => escapeHtml(text).replace(/`([^`]+)`/g, '<code>$1</code>');

function section(kind: ProblemKind, heading: 'h1' | 'h2', baseUrl: string): string {
  const { status, title, when, clientAction } = problemTypes[kind];
  const slug = problemSlug(kind);
  return [
    `<section id="${slug}">`,
    `<${heading}><a href="${escapeHtml(`${baseUrl}${PROBLEM_PAGES_PATH}/${slug}`)}">${escapeHtml(title)}</a></${heading}>`,
    '<dl>',
    `<dt>type</dt><dd><code>${problemTypeUri(kind)}</code></dd>`,
    `<dt>status</dt><dd>${status}</dd>`,
    `<dt>when</dt><dd>${inlineHtml(when)}</dd>`,
    `<dt>what to do</dt><dd>${inlineHtml(clientAction)}</dd>`,
    '</dl>',
    '</section>',
  ].join('\n');
}

const page = (title: string, body: string) =>
  `<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>\n<body>\n${body}\n</body>\n</html>\n`;

/** Every problem type, one anchor each (`#slug`). */
export function problemIndexHtml(baseUrl: string): string {
  const contents = problemKinds.map((kind) => `<li><a href="#${problemSlug(kind)}"><code>${problemSlug(kind)}</code></a> (${problemTypes[kind].status})</li>`);
  return page(
    'Problem types',
    [
      '<h1>Problem types</h1>',
      '<p>Every error is <code>application/problem+json</code> (RFC 9457) with a stable <code>type</code>; switch on it, not on the title. Each answer links here with <code>Link: &lt;…&gt;; rel="describedby"</code>.</p>',
      `<ul>\n${contents.join('\n')}\n</ul>`,
      ...problemKinds.map((kind) => section(kind, 'h2', baseUrl)),
    ].join('\n'),
  );
}

export function problemPageHtml(kind: ProblemKind, baseUrl: string): string {
  return page(problemTypes[kind].title, `${section(kind, 'h1', baseUrl)}\n<p><a href="${escapeHtml(`${baseUrl}${PROBLEM_PAGES_PATH}`)}">All problem types</a></p>`);
}

/** docs/problems.md: the same text, for readers of the repository. */
export function problemTypesMarkdown(): string {
  const lines = [
    '# Problem types',
    '',
    '<!-- Generated from lambdas/shared/problem.ts by `npm run problem-docs`; a test fails when it is stale. -->',
    '',
    'Every error is `application/problem+json` (RFC 9457) with a stable `type`; switch on it, not on',
    'the title. Every problem response carries `Link: <{api}/problems/{slug}>; rel="describedby"`, the',
    'page of its type served by the API itself (`GET /problems` lists them all).',
    '',
    '| type | status | title |',
    '|---|---|---|',
    ...problemKinds.map((kind) => `| [\`${problemSlug(kind)}\`](#${problemSlug(kind)}) | ${problemTypes[kind].status} | ${problemTypes[kind].title} |`),
  ];
  for (const kind of problemKinds) {
    const { status, title, when, clientAction } = problemTypes[kind];
    lines.push('', `## ${problemSlug(kind)}`, '', `\`${problemTypeUri(kind)}\` · ${status} · ${title}`, '', `**When:** ${when}`, '', `**What to do:** ${clientAction}`);
  }
  return `${lines.join('\n')}\n`;
}
