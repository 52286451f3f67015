import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gatewayResponseCorsHeaders, preflightHeaders } from '../lambdas/shared/cors';
import { problemBody, type ProblemKind } from '../lambdas/shared/problem';
import { problemLinkHeader } from '../lambdas/shared/problem-links';
import { preflightResources, routes, type HandlerName } from '../lib/routes';
import { apiGatewayProxyEvent } from './api-gateway-event';
import { lambdaContext } from './lambda-context';

export type ProxyHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

/** API Gateway's own limit on a request body. */
const MAX_BODY_BYTES = 10 * 1024 * 1024;

const routeMatchers = routes.map((route) => ({
  route,
  names: [...route.resource.matchAll(/\{(\w+)\}/g)].map((m) => m[1]),
  pattern: resourcePattern(route.resource),
}));
const preflightMatchers = preflightResources().map(({ resource, methods }) => ({ methods, pattern: resourcePattern(resource) }));

function resourcePattern(resource: string): RegExp {
  return new RegExp(`^${resource.replace(/\{\w+\}/g, '([^/]+)')}$`);
}

/**
 * Decodes a Cognito JWT's claims WITHOUT verifying its signature: local only. The deployed
 * stack's Cognito authorizer verifies signature, issuer and expiry; here only expiry is checked.
 * A refusal carries Cognito's own message, which the deployed 401 gateway response also puts in
 * `detail`: an expired token is told apart from a missing or malformed one.
 */
export function authorize(header: string | undefined): { claims: Record<string, string> } | { refusal: string } {
  const match = /^Bearer ([\w-]+)\.([\w-]+)\.([\w-]*)$/.exec(header?.trim() ?? '');
  if (!match) return { refusal: 'Unauthorized' };
  try {
    const claims = JSON.parse(Buffer.from(match[2], 'base64url').toString('utf8')) as Record<string, unknown>;
    if (typeof claims.exp === 'number' && claims.exp * 1000 <= Date.now()) return { refusal: TOKEN_EXPIRED };
    // Cognito hands claims to Lambda as strings.
    return { claims: Object.fromEntries(Object.entries(claims).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)])) };
  } catch {
    return { refusal: 'Unauthorized' };
  }
}

/** What Cognito's authorizer says about an expired ID token. */
export const TOKEN_EXPIRED = 'The incoming token has expired';

export function claimsFromAuthorization(header: string | undefined): Record<string, string> | undefined {
  const outcome = authorize(header);
  return 'claims' in outcome ? outcome.claims : undefined;
}

/** One answered request, for the `npm start` terminal. */
export interface RequestLogEntry {
  method: string;
  path: string;
  status: number;
  ms: number;
  /** The problem+json `type`, when the answer is one. */
  problemType?: string;
  /** `Idempotent-Replayed: true`. */
  replayed: boolean;
}

/**
 * A local REST API: the routes of lib/routes.ts, the proxy events API Gateway builds, the Cognito
 * authorizer's 401, its gateway responses as problem+json and, given allowed origins, the CORS
 * preflights and gateway response headers (all as the deployed stack sets them).
 */
export class LocalApiGateway {
  private readonly server: Server;
  private handlers: Partial<Record<HandlerName, ProxyHandler>> = {};
  /** False until the handlers are attached, and again while stopping: then everything answers 503. */
  private ready = false;
  /** What the request log needs from each answer (headers given to writeHead are not readable back). */
  private readonly answers = new WeakMap<ServerResponse, { problemType?: string; replayed?: boolean }>();
  /** Called once per answered request (health checks excepted). */
  onRequest?: (entry: RequestLogEntry) => void;

  /**
   * @param invocationTimeoutMs each invocation's deadline (its idempotency lock lasts as long).
   *   @default 29000, API Gateway's own limit
   * @param corsAllowedOrigins the stack's context corsAllowedOrigins (the handlers read the same
   *   list from CORS_ALLOWED_ORIGINS). @default [] no CORS, as deployed without the context key
   */
  constructor(
    private readonly invocationTimeoutMs = 29_000,
    private readonly corsAllowedOrigins: readonly string[] = [],
  ) {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        console.error('[api-gateway] handler crashed', error);
        if (!res.headersSent) this.gatewayError(req, res);
      });
    });
  }

  async listen(port: number, host = '127.0.0.1'): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve());
    });
    return `http://${host}:${(this.server.address() as AddressInfo).port}`;
  }

  /** Handlers attach after listening: the Stripe emulator needs our URL before they can load. */
  use(handlers: Partial<Record<HandlerName, ProxyHandler>>): void {
    this.handlers = handlers;
    this.ready = true;
  }

  close(): Promise<void> {
    this.ready = false;
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }

  private gatewayProblem(req: IncomingMessage, res: ServerResponse, kind: ProblemKind, options: { status?: number; detail?: string; headers?: Record<string, string> } = {}) {
    const body = problemBody(kind, options.detail);
    this.answers.set(res, { problemType: body.type });
    res.writeHead(options.status ?? body.status, { 'Content-Type': 'application/problem+json', Link: this.problemLink(req, kind), ...this.gatewayCors(req), ...options.headers });
    res.end(JSON.stringify({ ...body, status: options.status ?? body.status }));
  }

  /** What the stack's DEFAULT_5XX gateway response answers when a function fails: no `status` member. */
  private gatewayError(req: IncomingMessage, res: ServerResponse) {
    const { status: _status, ...body } = problemBody('gatewayError');
    this.answers.set(res, { problemType: body.type });
    res.writeHead(502, { 'Content-Type': 'application/problem+json', 'Retry-After': '1', Link: this.problemLink(req, 'gatewayError'), ...this.gatewayCors(req) });
    res.end(JSON.stringify(body));
  }

  /** The CORS headers the stack puts on every gateway response. */
  private gatewayCors(req: IncomingMessage) {
    return gatewayResponseCorsHeaders(this.corsAllowedOrigins, req.headers.origin);
  }

  /** The stack's gateway responses link to the stage's problem pages; here, to this server's. */
  private problemLink(req: IncomingMessage, kind: ProblemKind) {
    return problemLinkHeader(`http://${req.headers.host ?? '127.0.0.1'}`, kind);
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://localhost');
    // Local only: a start-up script or a test waits for this instead of sleeping.
    if (url.pathname === '/_local/health') {
      res.writeHead(this.ready ? 200 : 503, { 'Content-Type': 'application/json', ...(this.ready ? {} : { 'Retry-After': '1' }) });
      return res.end(JSON.stringify({ status: this.ready ? 'ready' : 'starting' }));
    }
    const started = Date.now();
    res.once('finish', () =>
      this.onRequest?.({ method: req.method ?? 'GET', path: url.pathname, status: res.statusCode, ms: Date.now() - started, ...this.answers.get(res), replayed: this.answers.get(res)?.replayed ?? false }),
    );
    // API Gateway answers the preflight itself (a mock integration, no authorizer, no function).
    const preflight = req.method === 'OPTIONS' && this.corsAllowedOrigins.length > 0 ? preflightMatchers.find((m) => m.pattern.test(url.pathname)) : undefined;
    if (preflight) {
      req.resume();
      res.writeHead(204, preflightHeaders(this.corsAllowedOrigins, req.headers.origin, preflight.methods));
      return res.end();
    }
    if (!this.ready) {
      // Nothing ran: any request, a POST with its Idempotency-Key included, can simply come back.
      return this.gatewayProblem(req, res, 'gatewayError', { status: 503, detail: 'The local stack is starting or stopping; retry shortly.', headers: { 'Retry-After': '1' } });
    }
    const candidates = routeMatchers.filter((m) => m.pattern.test(url.pathname));
    const matched = candidates.find((m) => m.route.method === req.method);
    // API Gateway answers an unknown method on a known path like an unknown path ("Missing
    // Authentication Token"), which the stack maps to route-not-found.
    if (!matched) return this.gatewayProblem(req, res, 'routeNotFound');

    const chunks: Buffer[] = [];
    let size = 0;
    // Read to the end even when too large: answering mid-upload would reset the connection.
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk as Buffer);
    }
    if (size > MAX_BODY_BYTES) return this.gatewayProblem(req, res, 'payloadTooLarge');
    const { route } = matched;
    const authorization = route.authorized ? authorize(req.headers.authorization) : undefined;
    if (authorization && 'refusal' in authorization) return this.gatewayProblem(req, res, 'unauthorized', { detail: authorization.refusal });
    const claims = authorization?.claims;

    const handler = this.handlers[route.handler];
    if (!handler) return this.gatewayError(req, res);
    const values = matched.pattern.exec(url.pathname)!.slice(1);
    const headers: Record<string, string[]> = {};
    for (let i = 0; i < req.rawHeaders.length; i += 2) (headers[req.rawHeaders[i]] ??= []).push(req.rawHeaders[i + 1]);
    // As API Gateway does: the handlers build absolute links (problem pages) from it.
    headers['X-Forwarded-Proto'] = ['http'];
    const event = apiGatewayProxyEvent({
      method: route.method,
      path: url.pathname,
      resource: route.resource,
      pathParameters: matched.names.length ? Object.fromEntries(matched.names.map((n, i) => [n, decodeURIComponent(values[i])])) : null,
      headers,
      query: url.searchParams,
      body: chunks.length ? Buffer.concat(chunks) : null,
      claims,
      sourceIp: req.socket.remoteAddress,
    });
    const response = await handler(event, lambdaContext(`local-${route.handler}`, this.invocationTimeoutMs));
    const header = (name: string) => String(Object.entries(response.headers ?? {}).find(([k]) => k.toLowerCase() === name)?.[1] ?? '');
    let problemType: string | undefined;
    try {
      if (/problem\+json/.test(header('content-type'))) problemType = (JSON.parse(response.body) as { type?: string }).type;
    } catch {
      problemType = undefined; // for the log only: a malformed body is the handler's answer, passed on as is
    }
    this.answers.set(res, { problemType, replayed: header('idempotent-replayed') === 'true' });
    res.writeHead(response.statusCode, { ...(response.headers as Record<string, string>) });
    res.end(response.isBase64Encoded ? Buffer.from(response.body, 'base64') : response.body);
  }
}

