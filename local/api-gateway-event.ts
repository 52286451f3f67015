import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent } from 'aws-lambda';

export interface ProxyRequest {
  method: string;
  path: string;
  /** The route's resource, e.g. /v1/orders/{orderId}. */
  resource: string;
  pathParameters?: Record<string, string> | null;
  /** Header name → all its values, as received. */
  headers: Record<string, string[]>;
  query?: URLSearchParams;
  body: Buffer | string | null;
  /** Authorizer claims (what Cognito verified), or undefined for unauthorized routes. */
  claims?: Record<string, string>;
  sourceIp?: string;
}

const TEXT_TYPES = /^(application\/([\w.+-]+\+)?json|text\/|application\/x-www-form-urlencoded)/i;

/** Builds the REST API (v1) Lambda proxy event API Gateway would send for this request. */
export function apiGatewayProxyEvent(request: ProxyRequest): APIGatewayProxyEvent {
  const headers: Record<string, string> = {};
  for (const [name, values] of Object.entries(request.headers)) headers[name] = values[values.length - 1];
  const multiValueQuery: Record<string, string[]> = {};
  request.query?.forEach((value, key) => (multiValueQuery[key] ??= []).push(value));
  const contentType = Object.entries(request.headers).find(([k]) => k.toLowerCase() === 'content-type')?.[1][0] ?? '';
  const raw = request.body === null ? null : Buffer.isBuffer(request.body) ? request.body : Buffer.from(request.body);
  const asText = raw !== null && (contentType === '' || TEXT_TYPES.test(contentType));
  return {
    resource: request.resource,
    path: request.path,
    httpMethod: request.method,
    headers,
    multiValueHeaders: request.headers,
    queryStringParameters: Object.keys(multiValueQuery).length ? Object.fromEntries(Object.entries(multiValueQuery).map(([k, v]) => [k, v[v.length - 1]])) : null,
    multiValueQueryStringParameters: Object.keys(multiValueQuery).length ? multiValueQuery : null,
    pathParameters: request.pathParameters ?? null,
    stageVariables: null,
    isBase64Encoded: raw !== null && !asText,
    body: raw === null ? null : asText ? raw.toString('utf8') : raw.toString('base64'),
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      authorizer: request.claims ? { claims: request.claims } : null,
      protocol: 'HTTP/1.1',
      httpMethod: request.method,
      identity: { sourceIp: request.sourceIp ?? '127.0.0.1' } as APIGatewayProxyEvent['requestContext']['identity'],
      // The path as the client sent it: the local gateway has no stage prefix in front of routes.
      path: request.path,
      domainName: Object.entries(request.headers).find(([k]) => k.toLowerCase() === 'host')?.[1][0] ?? 'localhost',
      stage: 'local',
      requestId: randomUUID(),
      requestTimeEpoch: Date.now(),
      resourceId: 'local',
      resourcePath: request.resource,
    },
  };
}
