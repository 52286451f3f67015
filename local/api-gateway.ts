import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { problemBody, type ProblemKind } from '../lambdas/shared/problem';
import { problemLinkHeader } from '../lambdas/shared/problem-links';
import { routes, type HandlerName } from '../lib/routes';
import { apiGatewayProxyEvent } from './api-gateway-event';
import { lambdaContext } from './lambda-context';

export type ProxyHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

/** API Gateway's own limit on a request body. */
const MAX_BODY_BYTES = 10 * 1024 * 1024;

const routeMatchers = routes.map((route) => ({
  route,
  names: [...route.resource.matchAll(/\{(\w+)\}/g)].map((m) => m[1]),
  pattern: new RegExp(`^${route.resource.replace(/\{\w+\}/g, '([^/]+)')}$`),
}));

/**
 * Decodes a Cognito JWT's claims WITHOUT verifying its signature: local only. The deployed
 * stack's Cognito authorizer verifies signature, issuer and expiry; here only expiry is checked.
 */
export function claimsFromAuthorization(header: string | undefined): Record<string, string> | undefined {
  const match = /^Bearer ([\w-]+)\.([\w-]+)\.([\w-]*)$/.exec(header?.trim() ?? '');
  if (!match) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(match[2], 'base64url').toString('utf8')) as Record<string, unknown>;
    if (typeof claims.exp === 'number' && claims.exp * 1000 < Date.now()) return undefined;
    // Cognito hands claims to Lambda as strings.
    return Object.fromEntries(Object.entries(claims).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));
  } catch {
    return undefined;
  }
}

/**
 * A local REST API: the routes of lib/routes.ts, the proxy events API Gateway builds, the Cognito
 * authorizer's 401, and its gateway responses as problem+json (as the deployed stack sets them).
 */
export class LocalApiGateway {
  private readonly server: Server;
  private handlers: Partial<Record<HandlerName, ProxyHandler>> = {};

  /**
   * @param invocationTimeoutMs each invocation's deadline (its idempotency lock lasts as long).
   *   @default 29000, API Gateway's own limit
   */
  constructor(private readonly invocationTimeoutMs = 29_000) {
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
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }

  private gatewayProblem(req: IncomingMessage, res: ServerResponse, kind: ProblemKind) {
    const body = problemBody(kind);
    res.writeHead(body.status, { 'Content-Type': 'application/problem+json', Link: this.problemLink(req, kind) });
    res.end(JSON.stringify(body));
  }

  /** What the stack's DEFAULT_5XX gateway response answers when a function fails: no `status` member. */
  private gatewayError(req: IncomingMessage, res: ServerResponse) {
    const { status: _status, ...body } = problemBody('gatewayError');
    res.writeHead(502, { 'Content-Type': 'application/problem+json', 'Retry-After': '1', Link: this.problemLink(req, 'gatewayError') });
    res.end(JSON.stringify(body));
  }

  /** The stack's gateway responses link to the stage's problem pages; here, to this server's. */
  private problemLink(req: IncomingMessage, kind: ProblemKind) {
    return problemLinkHeader(`http://${req.headers.host ?? '127.0.0.1'}`, kind);
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://localhost');
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
    const claims = route.authorized ? claimsFromAuthorization(req.headers.authorization) : undefined;
    if (route.authorized && !claims) return this.gatewayProblem(req, res, 'unauthorized');

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
    res.writeHead(response.statusCode, { ...(response.headers as Record<string, string>) });
    res.end(response.isBase64Encoded ? Buffer.from(response.body, 'base64') : response.body);
  }
}

