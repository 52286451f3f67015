import { readFileSync } from 'node:fs';
import { apiGatewayProxyEvent } from '../../local/api-gateway-event';
import { PROBLEM_DOCS_PATH } from '../../bin/problem-docs';
import { createProblemsHandler } from '../../lambdas/problems/create-problems-handler';
import { problemTypesMarkdown } from '../../lambdas/problems/pages';
import { problemSlug, problemTypes, problemTypeUri, type ProblemKind } from '../../lambdas/shared/problem';
import { apiBaseUrl, withProblemLink } from '../../lambdas/shared/problem-links';

const kinds = Object.keys(problemTypes) as ProblemKind[];
const handler = createProblemsHandler();

/** The event API Gateway builds for a request as the client sent it (path with its stage, Host). */
function deployedEvent(calledPath: string, resource: string, pathParameters: Record<string, string> | null = null) {
  const event = apiGatewayProxyEvent({ method: 'GET', path: calledPath, resource, pathParameters, headers: { Host: ['abc123.execute-api.eu-west-1.amazonaws.com'], 'X-Forwarded-Proto': ['https'] }, body: null });
  // On the execute-api host, `path` leaves the stage out and requestContext.path keeps it.
  return { ...event, path: calledPath.replace(/^\/prod/, ''), requestContext: { ...event.requestContext, path: calledPath, stage: 'prod' } };
}

it('docs/problems.md is generated from the problem catalogue (run `npm run problem-docs`)', () => {
  expect(readFileSync(PROBLEM_DOCS_PATH, 'utf8')).toBe(problemTypesMarkdown());
});

it('documents every problem type: title, status, when it happens, what the client should do', () => {
  for (const kind of kinds) {
    const { status, title, when, clientAction } = problemTypes[kind];
    expect({ kind, status: status >= 400 && status < 600, when: when.length > 20, clientAction: clientAction.length > 10 }).toEqual({ kind, status: true, when: true, clientAction: true });
    expect(problemTypesMarkdown()).toContain(`## ${problemSlug(kind)}\n\n\`${problemTypeUri(kind)}\` · ${status} · ${title}`);
  }
});

it('finds the base URL behind the stage path deployed, behind a base path mapping, and locally', () => {
  expect(apiBaseUrl(deployedEvent('/prod/v1/orders/ord_1', '/v1/orders/{orderId}'))).toBe('https://abc123.execute-api.eu-west-1.amazonaws.com/prod');
  const custom = apiGatewayProxyEvent({ method: 'POST', path: '/payments/v1/checkouts', resource: '/v1/checkouts', headers: { Host: ['api.shop.example'] }, body: null });
  expect(apiBaseUrl(custom)).toBe('https://api.shop.example/payments');
  const local = apiGatewayProxyEvent({ method: 'POST', path: '/v1/refunds', resource: '/v1/refunds', headers: { Host: ['127.0.0.1:3000'], 'X-Forwarded-Proto': ['http'] }, body: null });
  expect(apiBaseUrl(local)).toBe('http://127.0.0.1:3000');
});

it('serves one page per type and an index with one anchor per type, with absolute links under the stage', async () => {
  const index = await handler(deployedEvent('/prod/problems', '/problems'));
  expect(index.statusCode).toBe(200);
  expect(index.headers?.['Content-Type']).toBe('text/html; charset=utf-8');
  for (const kind of kinds) {
    expect(index.body).toContain(`<section id="${problemSlug(kind)}">`);
    expect(index.body).toContain(`href="https://abc123.execute-api.eu-west-1.amazonaws.com/prod/problems/${problemSlug(kind)}"`);
    const page = await handler(deployedEvent(`/prod/problems/${problemSlug(kind)}`, '/problems/{slug}', { slug: problemSlug(kind) }));
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain(problemTypeUri(kind));
    expect(page.body).toContain(`<dt>status</dt><dd>${problemTypes[kind].status}</dd>`);
  }
});

it('answers an unknown slug with a 404 not-found that links to its own page', async () => {
  const response = await handler(deployedEvent('/prod/problems/no-such-thing', '/problems/{slug}', { slug: 'no-such-thing' }));
  expect(response.statusCode).toBe(404);
  expect(JSON.parse(response.body).type).toBe(problemTypeUri('notFound'));
  expect(response.headers?.Link).toBe('<https://abc123.execute-api.eu-west-1.amazonaws.com/prod/problems/not-found>; rel="describedby"');
});

it('adds the Link to problem responses only', () => {
  const event = deployedEvent('/prod/v1/checkouts', '/v1/checkouts');
  const problem = withProblemLink(event, { statusCode: 422, headers: { 'Content-Type': 'application/problem+json' }, body: JSON.stringify({ type: problemTypeUri('idempotencyKeyReused') }) });
  expect(problem.headers?.Link).toBe('<https://abc123.execute-api.eu-west-1.amazonaws.com/prod/problems/idempotency-key-reused>; rel="describedby"');
  const created = withProblemLink(event, { statusCode: 201, headers: { 'Content-Type': 'application/json' }, body: '{}' });
  expect(created.headers?.Link).toBeUndefined();
});
