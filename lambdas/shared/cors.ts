import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';

/**
 * CORS, one policy for every place that answers a browser: the handlers (API Gateway adds no
 * header to a Lambda proxy response), the stack's preflight methods and gateway responses
 * (lib/constructs/payments-api.ts) and the local API Gateway (local/api-gateway.ts).
 *
 * No `Access-Control-Allow-Credentials`, ever: the API authenticates with a bearer token the
 * page sets itself, never with cookies, so a browser needs no credentials mode, and an origin
 * that is not listed cannot make the browser attach anything on its behalf.
 */

/** Request headers a page may send (the preflight's Access-Control-Allow-Headers). */
export const CORS_ALLOWED_HEADERS = ['Authorization', 'Content-Type', 'Idempotency-Key'] as const;
/**
 * Response headers a page may read besides the CORS-safelisted ones: the replay marker and the
 * wait before a retry (the client's safe-retry logic), and the problem type's documentation.
 */
export const CORS_EXPOSED_HEADERS = ['Idempotent-Replayed', 'Retry-After', 'Link'] as const;
/** How long a browser may cache a preflight: Chromium caps it at 2 h; 10 min lets an origin removed from the list stop working soon. */
export const CORS_MAX_AGE_SECONDS = 600;
/** The handlers' list of allowed origins, comma-separated (a name, not a secret). */
export const CORS_ALLOWED_ORIGINS_ENV = 'CORS_ALLOWED_ORIGINS';

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Checks a list of allowed origins and returns it. Each must be an exact origin as a browser
 * sends it in `Origin` (scheme, host, port; lower case; no path, no trailing slash), https
 * except on loopback. `*` and `null` are refused: `*` opens the API to every site and
 * `null` is what sandboxed frames and file: pages send; so is a wildcard anywhere
 * (`https://*.example.com`): origins are compared exactly, never as patterns.
 */
export function validAllowedOrigins(origins: readonly string[], source: string): string[] {
  for (const origin of origins) {
    if (origin === '*') throw new Error(`${source}: "*" is refused; list the exact origins of the web apps that call the API (e.g. https://shop.example.com)`);
    if (origin === 'null') throw new Error(`${source}: "null" is refused: it is the origin of sandboxed frames and file: pages, not of a web app`);
    // URL parsing keeps `*` in a host (`https://*.example.com` looks exact), but the list is
    // compared with the request's Origin as is: a pattern would match nothing, or mislead.
    if (origin.includes('*')) throw new Error(`${source}: ${JSON.stringify(origin)} is refused: wildcards are not supported; list each exact origin (e.g. https://shop.example.com,https://admin.example.com)`);
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      throw new Error(`${source}: ${JSON.stringify(origin)} is not an origin (expected scheme://host[:port], e.g. https://shop.example.com)`);
    }
    if (url.origin === 'null' || url.origin !== origin) {
      const hint = url.origin !== 'null' ? ` (did you mean ${url.origin}?)` : '';
      throw new Error(`${source}: ${JSON.stringify(origin)} is not an exact origin as browsers send it: scheme://host[:port], lower case, no path or trailing slash${hint}`);
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname))) {
      throw new Error(`${source}: ${origin} must use https (plain http only for localhost, 127.0.0.1 or [::1])`);
    }
  }
  return [...new Set(origins)];
}

/** The allowed origins the handler's environment names; none when unset (no CORS at all). */
export function allowedOriginsFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  const raw = env[CORS_ALLOWED_ORIGINS_ENV];
  if (raw === undefined || raw.trim() === '') return [];
  return validAllowedOrigins(raw.split(',').map((origin) => origin.trim()).filter(Boolean), `Environment variable ${CORS_ALLOWED_ORIGINS_ENV}`);
}

/**
 * Headers for an actual (not preflight) response. Only a listed origin is echoed, with what it
 * may read; `Vary: Origin` whenever CORS is on, so no cache hands one origin's answer to another.
 */
export function corsResponseHeaders(allowedOrigins: readonly string[], requestOrigin: string | undefined): Record<string, string> {
  if (allowedOrigins.length === 0) return {};
  if (requestOrigin === undefined || !allowedOrigins.includes(requestOrigin)) return { Vary: 'Origin' };
  return { 'Access-Control-Allow-Origin': requestOrigin, 'Access-Control-Expose-Headers': CORS_EXPOSED_HEADERS.join(','), Vary: 'Origin' };
}

/**
 * The preflight's answer, as the stack's OPTIONS mock integration gives it (CDK's
 * addCorsPreflight): 204, the first listed origin unless the request's is listed (the browser
 * refuses a mismatch), the resource's methods, the allowed headers and the max age.
 */
export function preflightHeaders(allowedOrigins: readonly string[], requestOrigin: string | undefined, methods: readonly string[]): Record<string, string> {
  return {
    'Access-Control-Allow-Headers': CORS_ALLOWED_HEADERS.join(','),
    'Access-Control-Allow-Origin': requestOrigin !== undefined && allowedOrigins.includes(requestOrigin) ? requestOrigin : allowedOrigins[0],
    Vary: 'Origin',
    'Access-Control-Allow-Methods': methods.join(','),
    'Access-Control-Max-Age': String(CORS_MAX_AGE_SECONDS),
  };
}

/**
 * Where API Gateway's own responses (401, 403, 404, 413, 429, 5xx) take Access-Control-Allow-Origin
 * from. They can carry only a static value or a request parameter, no condition: with one allowed
 * origin, that origin; with several, the request's Origin echoed, whatever it is, listed or not.
 * Accepted limitation, by design: any site can then read those answers (a 401, a 404 — also the
 * one OPTIONS on the webhook route gets, since DEFAULT_4XX cannot differ per route — a 429, a
 * 5xx). That is harmless: they are problem documents with no data, produced before any handler
 * ran, and `Access-Control-Allow-Credentials` is never sent. The preflight and the handlers'
 * responses (everything with data) still admit listed origins only.
 */
export type GatewayResponseOrigin = { static: string } | { fromRequestHeader: 'Origin' };
export function gatewayResponseOrigin(allowedOrigins: readonly string[]): GatewayResponseOrigin | undefined {
  if (allowedOrigins.length === 0) return undefined;
  return allowedOrigins.length === 1 ? { static: allowedOrigins[0] } : { fromRequestHeader: 'Origin' };
}

/** The CORS headers on a gateway response for this request (the local gateway applies what the stack configures). */
export function gatewayResponseCorsHeaders(allowedOrigins: readonly string[], requestOrigin: string | undefined): Record<string, string> {
  const origin = gatewayResponseOrigin(allowedOrigins);
  if (!origin) return {};
  const value = 'static' in origin ? origin.static : requestOrigin;
  return { ...(value ? { 'Access-Control-Allow-Origin': value } : {}), 'Access-Control-Expose-Headers': CORS_EXPOSED_HEADERS.join(','), Vary: 'Origin' };
}

const requestOrigin = (event: Pick<APIGatewayProxyEvent, 'headers'>) => Object.entries(event.headers ?? {}).find(([name]) => name.toLowerCase() === 'origin')?.[1];

/**
 * A browser-facing handler with CORS headers on every answer it gives. The Stripe webhook is not
 * wrapped: it is called server to server.
 */
export function withCors<Rest extends unknown[]>(
  handler: (event: APIGatewayProxyEvent, ...rest: Rest) => Promise<APIGatewayProxyResult>,
  allowedOrigins: readonly string[] = allowedOriginsFromEnv(),
): (event: APIGatewayProxyEvent, ...rest: Rest) => Promise<APIGatewayProxyResult> {
  if (allowedOrigins.length === 0) return handler;
  return async (event, ...rest) => {
    const response = await handler(event, ...rest);
    return { ...response, headers: { ...response.headers, ...corsResponseHeaders(allowedOrigins, requestOrigin(event)) } };
  };
}
