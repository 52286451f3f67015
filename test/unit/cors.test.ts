import type { APIGatewayProxyEvent } from 'aws-lambda';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { allowedOriginsFromEnv, corsResponseHeaders, CORS_ALLOWED_ORIGINS_ENV, validAllowedOrigins, withCors } from '../../lambdas/shared/cors';
import { corsAllowedOriginsFrom } from '../../lib/config';
import { CDK_JSON, localCorsAllowedOrigins } from '../../local/cors-origins';
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

describe('validAllowedOrigins', () => {
  it.each(['https://*.example.com', 'https://shop.*.com', 'http://localhost:*', 'https://*'])('refuses the wildcard %j, which URL parsing would keep as an "exact" origin', (origin) => {
    expect(() => validAllowedOrigins([origin], 'Context corsAllowedOrigins')).toThrow(/Context corsAllowedOrigins: ".*" is refused: wildcards are not supported; list each exact origin/);
  });
});

describe('corsAllowedOriginsFrom (context corsAllowedOrigins, for the stack and npm start)', () => {
  it('reads a -c string or a cdk.json list; [] or an empty string means none, as an absent key does', () => {
    expect(corsAllowedOriginsFrom([])).toEqual([]);
    expect(corsAllowedOriginsFrom('')).toEqual([]);
    expect(corsAllowedOriginsFrom(undefined)).toEqual([]);
    expect(corsAllowedOriginsFrom(['http://localhost:5173', SHOP])).toEqual(['http://localhost:5173', SHOP]);
    expect(corsAllowedOriginsFrom(`${SHOP}, http://localhost:5173`)).toEqual([SHOP, 'http://localhost:5173']);
  });

  it('refuses what the stack refuses, naming where the value came from', () => {
    expect(() => corsAllowedOriginsFrom(['https://*.example.com'])).toThrow(/^Context corsAllowedOrigins: "https:\/\/\*\.example\.com" is refused/);
    expect(() => corsAllowedOriginsFrom('*', 'Environment variable CORS_ALLOWED_ORIGINS')).toThrow(/^Environment variable CORS_ALLOWED_ORIGINS: "\*" is refused/);
  });
});

describe('localCorsAllowedOrigins (what npm start allows besides the shop)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'cors-origins-'));
  const cdkJson = (context: Record<string, unknown> | undefined) => {
    const file = path.join(dir, `cdk-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, JSON.stringify({ app: 'npx tsx bin/app.ts', ...(context ? { context } : {}) }));
    return file;
  };

  it('reads cdk.json context corsAllowedOrigins, the setting cdk synth and deploy read', () => {
    expect(localCorsAllowedOrigins({}, cdkJson({ corsAllowedOrigins: ['http://localhost:5173'] }))).toEqual({ origins: ['http://localhost:5173'], source: expect.stringContaining('context corsAllowedOrigins') });
    expect(localCorsAllowedOrigins({}, cdkJson({ corsAllowedOrigins: [] })).origins).toEqual([]);
    expect(localCorsAllowedOrigins({}, cdkJson({})).origins).toEqual([]);
    expect(localCorsAllowedOrigins({}, cdkJson(undefined)).origins).toEqual([]);
    expect(localCorsAllowedOrigins({}, path.join(dir, 'absent.json')).origins).toEqual([]);
  });

  it('takes CORS_ALLOWED_ORIGINS instead when set (empty: none), in the -c form', () => {
    const file = cdkJson({ corsAllowedOrigins: ['http://localhost:5173'] });
    expect(localCorsAllowedOrigins({ [CORS_ALLOWED_ORIGINS_ENV]: 'http://localhost:8080,https://app.example.com' }, file)).toEqual({ origins: ['http://localhost:8080', 'https://app.example.com'], source: CORS_ALLOWED_ORIGINS_ENV });
    expect(localCorsAllowedOrigins({ [CORS_ALLOWED_ORIGINS_ENV]: '' }, file).origins).toEqual([]);
  });

  it('refuses a bad list as synth does, naming the file or the variable', () => {
    const file = cdkJson({ corsAllowedOrigins: ['https://*.example.com'] });
    expect(() => localCorsAllowedOrigins({}, file)).toThrow(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: context corsAllowedOrigins: .* wildcards are not supported`));
    expect(() => localCorsAllowedOrigins({ [CORS_ALLOWED_ORIGINS_ENV]: 'http://shop.example.com' }, file)).toThrow(/^Environment variable CORS_ALLOWED_ORIGINS: http:\/\/shop\.example\.com must use https/);
    const broken = path.join(dir, 'broken.json');
    writeFileSync(broken, '{ "context": ');
    expect(() => localCorsAllowedOrigins({}, broken)).toThrow(/broken\.json is not valid JSON/);
  });

  it('reads the project\'s own cdk.json by default, which the CDK app reads', () => {
    expect(CDK_JSON).toBe(path.resolve(__dirname, '../../cdk.json'));
    expect(localCorsAllowedOrigins({}).origins).toEqual(corsAllowedOriginsFrom(require('../../cdk.json').context?.corsAllowedOrigins));
  });
});
