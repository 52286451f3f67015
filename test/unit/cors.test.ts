import type { APIGatewayProxyEvent } from 'aws-lambda';
import { allowedOriginsFromEnv, corsResponseHeaders, CORS_ALLOWED_ORIGINS_ENV, withCors } from '../../lambdas/shared/cors';
import { createProblemsHandler } from '../../lambdas/problems/create-problems-handler';

const SHOP = 'https://shop.example.com';
const event = (headers: Record<string, string>, slug?: string): APIGatewayProxyEvent =>
  ({
    resource: slug ? '/problems/{slug}' : '/problems',
    path: slug ? `/problems/${slug}` : '/problems',
    httpMethod: 'GET',
    headers: { Host: 'api.example.com', ...headers },
    multiValueHeaders: {},
    pathParameters: slug ? { slug } : null,
    requestContext: { domainName: 'api.example.com', path: slug ? `/prod/problems/${slug}` : '/prod/problems' },
  }) as unknown as APIGatewayProxyEvent;

describe('corsResponseHeaders', () => {
  it('echoes a listed origin with the headers a page may read, and Vary: Origin', () => {
    expect(corsResponseHeaders([SHOP, 'https://admin.example.com'], 'https://admin.example.com')).toEqual({
      'Access-Control-Allow-Origin': 'https://admin.example.com',
      'Access-Control-Expose-Headers': 'Idempotent-Replayed,Retry-After,Link',
      Vary: 'Origin',
    });
  });

  it('gives an unlisted or missing origin only Vary: Origin (a cache keeps the answers apart), and nothing without CORS', () => {
    expect(corsResponseHeaders([SHOP], 'https://evil.example')).toEqual({ Vary: 'Origin' });
    expect(corsResponseHeaders([SHOP], 'https://shop.example.com.evil.example')).toEqual({ Vary: 'Origin' });
    expect(corsResponseHeaders([SHOP], 'null')).toEqual({ Vary: 'Origin' });
    expect(corsResponseHeaders([SHOP], undefined)).toEqual({ Vary: 'Origin' });
    expect(corsResponseHeaders([], SHOP)).toEqual({});
  });
});

describe('withCors around a real handler (the problem pages)', () => {
  const handler = withCors(createProblemsHandler(), [SHOP]);

  it('adds the headers to a 200 and to a problem answer, keeping the handler\'s own', async () => {
    const page = await handler(event({ Origin: SHOP }));
    expect(page.statusCode).toBe(200);
    expect(page.headers).toMatchObject({ 'Access-Control-Allow-Origin': SHOP, Vary: 'Origin', 'Cache-Control': 'public, max-age=300', 'Content-Type': 'text/html; charset=utf-8' });
    const problem = await handler(event({ origin: SHOP }, 'no-such-type'));
    expect(problem.statusCode).toBe(404);
    expect(problem.headers).toMatchObject({ 'Access-Control-Allow-Origin': SHOP, 'Access-Control-Expose-Headers': expect.stringContaining('Retry-After'), Link: expect.stringContaining('rel="describedby"') });
  });

  it('never names another origin, and is the bare handler without allowed origins', async () => {
    const refused = await handler(event({ Origin: 'https://evil.example' }));
    expect(refused.headers?.['Access-Control-Allow-Origin']).toBeUndefined();
    expect(JSON.stringify(refused.headers)).not.toContain('evil');
    const bare = createProblemsHandler();
    expect(withCors(bare, [])).toBe(bare);
  });
});

describe('allowedOriginsFromEnv', () => {
  it('reads a comma-separated list, none when unset or empty', () => {
    expect(allowedOriginsFromEnv({ [CORS_ALLOWED_ORIGINS_ENV]: `${SHOP}, http://127.0.0.1:3001` })).toEqual([SHOP, 'http://127.0.0.1:3001']);
    expect(allowedOriginsFromEnv({})).toEqual([]);
    expect(allowedOriginsFromEnv({ [CORS_ALLOWED_ORIGINS_ENV]: '' })).toEqual([]);
  });

  it('fails the cold start on * or a malformed origin, naming the variable', () => {
    expect(() => allowedOriginsFromEnv({ [CORS_ALLOWED_ORIGINS_ENV]: '*' })).toThrow(/CORS_ALLOWED_ORIGINS: "\*" is refused/);
    expect(() => allowedOriginsFromEnv({ [CORS_ALLOWED_ORIGINS_ENV]: 'https://shop.example.com/' })).toThrow(/CORS_ALLOWED_ORIGINS.*did you mean https:\/\/shop\.example\.com\?/);
  });
});
