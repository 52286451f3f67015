import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { problemTypes, problemTypeUri, type ProblemKind } from '../../lambdas/shared/problem';
import { REQUEST_SCHEMAS } from '../../bin/request-validators';
import { routes } from '../../lib/routes';

/** The published contract and the code cannot drift apart silently. */
const spec = parse(readFileSync(path.join(__dirname, '..', '..', 'docs', 'openapi.yaml'), 'utf8'));

const resolve = (node: any): any => (node && typeof node.$ref === 'string' ? resolve(node.$ref.slice(2).split('/').reduce((at: any, key: string) => at[key], spec)) : node);

/** Every (route, status, response) of the spec, references resolved. */
const responses = routes.flatMap((route) =>
  Object.entries(spec.paths[route.resource][route.method.toLowerCase()].responses as Record<string, unknown>).map(([status, response]) => ({
    route: `${route.method} ${route.resource}`,
    status: Number(status),
    response: resolve(response),
  })),
);

/** The problem types a problem+json response says it can carry. */
function problemTypesOf(response: any): string[] {
  const schema = resolve(response.content?.['application/problem+json']?.schema);
  if (!schema) return [];
  const type = (schema.allOf ?? []).find((part: any) => !part.$ref && part.properties?.type)?.properties.type;
  return type?.enum ?? (type?.const ? [type.const] : []);
}

it('is OpenAPI 3.1 and documents every route of the route table, and no other', () => {
  expect(spec.openapi).toBe('3.1.0');
  const documented = Object.entries(spec.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
  expect(documented.sort()).toEqual(routes.map((r) => `${r.method} ${r.resource}`).sort());
});

it('lists every problem type the code can answer', () => {
  const uris = (Object.keys(problemTypes) as ProblemKind[]).map(problemTypeUri);
  expect([...spec.components.schemas.ProblemType.enum].sort()).toEqual(uris.sort());
});

it('names the problem types of every error response, each under the status the code answers it with', () => {
  const gatewayCatchAlls = [problemTypeUri('requestRejected'), problemTypeUri('gatewayError')]; // keep API Gateway's status
  for (const { route, status, response } of responses.filter((r) => r.status >= 400)) {
    const types = problemTypesOf(response);
    expect({ route, status, types: types.length > 0 }).toEqual({ route, status, types: true });
    for (const type of types.filter((t) => !gatewayCatchAlls.includes(t))) {
      const kind = (Object.keys(problemTypes) as ProblemKind[]).find((k) => problemTypeUri(k) === type)!;
      expect({ route, type, status: problemTypes[kind].status }).toEqual({ route, type, status });
    }
  }
});

it('answers every problem type a route can produce somewhere (only unknown routes are left out)', () => {
  const used = new Set(responses.flatMap(({ response }) => problemTypesOf(response)));
  const unused = (Object.keys(problemTypes) as ProblemKind[]).map(problemTypeUri).filter((uri) => !used.has(uri));
  expect(unused).toEqual([problemTypeUri('routeNotFound')]);
});

it("documents WAF, API Gateway's size limit, throttling and gateway failures on every route, each 429 and 5xx with a required Retry-After", () => {
  for (const route of routes) {
    const statuses = responses.filter((r) => r.route === `${route.method} ${route.resource}`).map((r) => r.status);
    // The problem pages depend on nothing that could be unavailable: no 503.
    const dependencyStatuses = route.handler === 'problems' ? [] : [503];
    expect(statuses).toEqual(expect.arrayContaining([403, 413, 429, 500, 502, 504, ...dependencyStatuses, ...(route.authorized ? [401] : [])]));
  }
  for (const { route, status, response } of responses.filter((r) => r.status === 429 || r.status >= 500)) {
    expect({ route, status, retryAfterRequired: resolve(response.headers?.['Retry-After'])?.required }).toEqual({ route, status, retryAfterRequired: true });
  }
});

it('marks the webhook and the problem pages, and only them, as not Cognito-authorized', () => {
  for (const route of routes) {
    const operation = spec.paths[route.resource][route.method.toLowerCase()];
    expect(operation.security === undefined).toBe(route.authorized);
  }
});

it("validates each route's body with the schema the spec names for it", () => {
  for (const route of routes) {
    const requestBody = spec.paths[route.resource][route.method.toLowerCase()].requestBody;
    const named = requestBody?.content['application/json'].schema.$ref?.replace('#/components/schemas/', '');
    expect({ route: route.resource, schema: named }).toEqual({ route: route.resource, schema: route.bodySchema });
  }
  expect([...REQUEST_SCHEMAS].sort()).toEqual(routes.flatMap((r) => (r.bodySchema ? [r.bodySchema] : [])).sort());
});

it('links every problem response to the documentation of its type (required Link rel="describedby")', () => {
  const problemResponses = [
    ...responses.filter(({ response }) => response.content?.['application/problem+json']),
    ...Object.entries(spec.components.responses as Record<string, any>).map(([name, response]) => ({ route: name, status: 0, response })),
  ];
  expect(problemResponses.length).toBeGreaterThan(20);
  for (const { route, status, response } of problemResponses) {
    expect({ route, status, link: resolve(response.headers?.Link) }).toEqual({ route, status, link: spec.components.headers.ProblemLink });
  }
  expect(spec.components.headers.ProblemLink.required).toBe(true);
});
