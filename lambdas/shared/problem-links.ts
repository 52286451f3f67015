import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { problemKindOfSlug, problemSlug, type ProblemKind } from './problem';

/** Where the problem type pages live, relative to the API's base URL (lib/routes.ts serves them). */
export const PROBLEM_PAGES_PATH = '/problems';

/**
 * The API's base URL as the client called it: scheme, host, and whatever prefix sits in front of
 * the route (the stage on the execute-api host, a base path mapping on a custom domain, nothing
 * locally). `requestContext.path` is the path the client sent, and the route's resource has as
 * many segments as the part of it that is ours, so the prefix is what remains.
 * API Gateway sets `domainName` itself (not the client's Host header) and `X-Forwarded-Proto`.
 */
export function apiBaseUrl(event: Pick<APIGatewayProxyEvent, 'headers' | 'resource' | 'requestContext'>): string {
  const header = (name: string) => Object.entries(event.headers ?? {}).find(([key]) => key.toLowerCase() === name)?.[1]?.trim();
  const scheme = header('x-forwarded-proto')?.toLowerCase() === 'http' ? 'http' : 'https';
  const host = event.requestContext?.domainName ?? header('host') ?? 'localhost';
  const calledPath = (event.requestContext?.path ?? '').split('/').filter(Boolean);
  const routeSegments = (event.resource ?? '').split('/').filter(Boolean).length;
  const prefix = calledPath.slice(0, Math.max(0, calledPath.length - routeSegments));
  return `${scheme}://${host}${prefix.map((segment) => `/${segment}`).join('')}`;
}

/** The page documenting a problem type, absolute. */
export const problemPageUrl = (baseUrl: string, kind: ProblemKind) => `${baseUrl}${PROBLEM_PAGES_PATH}/${problemSlug(kind)}`;

/** RFC 8288 `Link` naming a problem type's documentation (IETF Idempotency-Key draft §2.7). */
export const problemLinkHeader = (baseUrl: string, kind: ProblemKind) => `<${problemPageUrl(baseUrl, kind)}>; rel="describedby"`;

const PROBLEM_TYPE_PREFIX = 'urn:payments:problem:';

/**
 * Adds the `Link` to a problem response, computed per request (never stored with an idempotent
 * result, so a replay names the URL the retry was sent to).
 */
export function withProblemLink(event: Pick<APIGatewayProxyEvent, 'headers' | 'resource' | 'requestContext'>, response: APIGatewayProxyResult): APIGatewayProxyResult {
  const contentType = Object.entries(response.headers ?? {}).find(([name]) => name.toLowerCase() === 'content-type')?.[1];
  if (contentType !== 'application/problem+json') return response;
  let type: unknown;
  try {
    type = (JSON.parse(response.body) as { type?: unknown }).type;
  } catch {
    return response;
  }
  const kind = typeof type === 'string' && type.startsWith(PROBLEM_TYPE_PREFIX) ? problemKindOfSlug(type.slice(PROBLEM_TYPE_PREFIX.length)) : undefined;
  if (!kind) return response;
  return { ...response, headers: { ...response.headers, Link: problemLinkHeader(apiBaseUrl(event), kind) } };
}
