import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { problemTypes, problemTypeUri, type ProblemKind } from '../../lambdas/shared/problem';
import { routes } from '../../lib/routes';

/** The published contract and the code cannot drift apart silently. */
const spec = parse(readFileSync(path.join(__dirname, '..', '..', 'docs', 'openapi.yaml'), 'utf8'));

it('is OpenAPI 3.1 and documents every route of the route table, and no other', () => {
  expect(spec.openapi).toBe('3.1.0');
  const documented = Object.entries(spec.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
  expect(documented.sort()).toEqual(routes.map((r) => `${r.method} ${r.resource}`).sort());
});

it('lists every problem type the code can answer', () => {
  const uris = (Object.keys(problemTypes) as ProblemKind[]).map(problemTypeUri);
  expect([...spec.components.schemas.Problem.properties.type.enum].sort()).toEqual(uris.sort());
});

it('marks the webhook, and only the webhook, as not Cognito-authorized', () => {
  for (const route of routes) {
    const operation = spec.paths[route.resource][route.method.toLowerCase()];
    expect(operation.security === undefined).toBe(route.authorized);
  }
});
