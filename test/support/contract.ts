import { getHttpOperationsFromSpec } from '@stoplight/prism-http';
import { validateOutput } from '@stoplight/prism-http/dist/validator';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';

/**
 * Every response a test receives is checked against docs/openapi.yaml by Stoplight Prism's
 * response validator (the one behind its validating proxy): the status must be listed for the
 * operation, the media type must match, the body must satisfy the schema and every required
 * header must be present and valid. A response the spec does not describe fails the test.
 *
 * A request to a path or method the API does not have is answered by API Gateway itself; the
 * spec describes that answer as `components.responses.RouteNotFound`, checked the same way.
 */
type IHttpOperation = Awaited<ReturnType<typeof getHttpOperationsFromSpec>>[number];
type IMediaTypeContent = NonNullable<IHttpOperation['responses'][number]['contents']>[number];

const SPEC_PATH = path.join(__dirname, '..', '..', 'docs', 'openapi.yaml');
const UNKNOWN_ROUTE = '/x-unknown-route';

export interface ReceivedResponse {
  status: number;
  /** Header names in any case. */
  headers: Record<string, string>;
  /** The body as received (text), or undefined when empty. */
  bodyText: string | undefined;
}

let operations: Promise<IHttpOperation[]> | undefined;

function loadOperations(): Promise<IHttpOperation[]> {
  const spec = parse(readFileSync(SPEC_PATH, 'utf8'));
  // The unknown-route answer is not an operation: give it a synthetic one so Prism can check it.
  spec.paths[UNKNOWN_ROUTE] = { get: { operationId: 'xUnknownRoute', responses: { '404': { $ref: '#/components/responses/RouteNotFound' } } } };
  return getHttpOperationsFromSpec(spec);
}

const templateMatches = (template: string, requestPath: string) =>
  new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(requestPath);

async function operationFor(method: string, requestPath: string): Promise<IHttpOperation> {
  const all = await (operations ??= loadOperations());
  const pathname = requestPath.split('?')[0];
  return (
    all.find((op) => op.method.toLowerCase() === method.toLowerCase() && op.path !== UNKNOWN_ROUTE && templateMatches(op.path, pathname)) ??
    all.find((op) => op.path === UNKNOWN_ROUTE)!
  );
}

/** The differences between a response and the spec, each a sentence; empty when it conforms. */
export async function contractViolations(method: string, requestPath: string, response: ReceivedResponse): Promise<string[]> {
  const operation = await operationFor(method, requestPath);
  let body: unknown = response.bodyText;
  const contentType = Object.entries(response.headers).find(([name]) => name.toLowerCase() === 'content-type')?.[1] ?? '';
  if (response.bodyText && /json/i.test(contentType)) {
    try {
      body = JSON.parse(response.bodyText);
    } catch {
      return [`the body is not the JSON its Content-Type (${contentType}) announces`];
    }
  }
  const outcome = validateOutput({ resource: operation, element: { statusCode: response.status, headers: response.headers, body } });
  // Prism rates an unlisted 4xx/5xx status a warning; for a contract test it is a failure like any other.
  const violations = outcome._tag === 'Right' ? [] : outcome.left.map((d) => `${d.path?.length ? `${d.path.join('.')}: ` : ''}${d.message}`);
  const documented = operation.responses.find((r) => r.code === String(response.status));
  if (documented) {
    // Prism lets application/json stand for application/problem+json; clients switch on the exact type.
    const mediaTypes = (documented.contents ?? []).map((c) => c.mediaType);
    const essence = contentType.split(';')[0].trim().toLowerCase();
    if (mediaTypes.length > 0 && !mediaTypes.includes(essence)) violations.push(`Content-Type is "${contentType}", the spec says ${mediaTypes.join(' or ')}`);
    const problemType = (body as { type?: unknown } | undefined)?.type;
    const allowed = documentedProblemTypes(documented.contents ?? []);
    if (essence === 'application/problem+json' && allowed.length > 0 && !allowed.includes(String(problemType))) {
      violations.push(`problem type ${JSON.stringify(problemType)} is not documented for this status; the spec lists ${allowed.join(', ')}`);
    }
    // The Link must document this very type (its page is /problems/{the URN's last segment}).
    const link = Object.entries(response.headers).find(([name]) => name.toLowerCase() === 'link')?.[1];
    const linkedSlug = link && /\/problems\/([a-z-]+)>; rel="describedby"$/.exec(link)?.[1];
    const slug = String(problemType).split(':').pop();
    if (essence === 'application/problem+json' && linkedSlug && linkedSlug !== slug) {
      violations.push(`Link names the page of ${linkedSlug}, the problem type is ${slug}`);
    }
  }
  return violations;
}

/** The problem types a response lists: the narrowest `type` enum or const among its schema's allOf parts. */
function documentedProblemTypes(contents: readonly IMediaTypeContent[]): string[] {
  const schema = contents.find((c) => c.mediaType === 'application/problem+json')?.schema as { allOf?: { properties?: { type?: { enum?: string[]; const?: string } } }[] } | undefined;
  const narrowings = (schema?.allOf ?? []).map((part) => part.properties?.type).filter((t) => t !== undefined);
  const narrowest = narrowings.map((t) => t.enum ?? (t.const ? [t.const] : [])).filter((types) => types.length > 0).sort((a, b) => a.length - b.length)[0];
  return narrowest ?? [];
}

/** Throws, naming the route, the status and every mismatch, when the response is not in the spec. */
export async function expectResponseInSpec(method: string, requestPath: string, response: ReceivedResponse): Promise<void> {
  const violations = await contractViolations(method, requestPath, response);
  if (violations.length === 0) return;
  const operation = await operationFor(method, requestPath);
  const route = operation.path === UNKNOWN_ROUTE ? `${method} ${requestPath} (no such route)` : `${operation.method.toUpperCase()} ${operation.path}`;
  const body = (response.bodyText ?? '').slice(0, 600);
  throw new Error(
    `Response not described by docs/openapi.yaml: ${route} answered ${response.status}\n` +
      violations.map((v) => `  - ${v}`).join('\n') +
      `\n  headers: ${JSON.stringify(response.headers)}\n  body: ${body}`,
  );
}

/** The spec, for tests that read it (schemas, examples). */
export const openApiSpec = () => parse(readFileSync(SPEC_PATH, 'utf8'));
