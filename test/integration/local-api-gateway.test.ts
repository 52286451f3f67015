import { LocalApiGateway, type RequestLogEntry } from '../../local/api-gateway';
import { localToken } from '../../local/token';

/** The local API Gateway's own answers: before the handlers are ready, health, and the authorizer. */
let gateway: LocalApiGateway;
let url: string;
const logged: RequestLogEntry[] = [];
const calls: string[] = [];
beforeAll(async () => {
  gateway = new LocalApiGateway();
  gateway.onRequest = (entry) => logged.push(entry);
  url = await gateway.listen(0);
});
afterAll(() => gateway.close());

it('answers 503 + Retry-After before the handlers are ready, for any request, and its health says starting', async () => {
  const health = await fetch(`${url}/_local/health`);
  expect([health.status, health.headers.get('retry-after'), await health.json()]).toEqual([503, '1', { status: 'starting' }]);
  for (const [method, path] of [['GET', '/v1/orders/ord_1'], ['POST', '/v1/checkouts']]) {
    const answer = await fetch(`${url}${path}`, { method, headers: { Authorization: `Bearer ${localToken('acme', 'alice')}`, 'Idempotency-Key': crypto.randomUUID() }, body: method === 'POST' ? '{}' : undefined });
    expect(answer.status).toBe(503);
    expect(answer.headers.get('retry-after')).toBe('1');
    expect(answer.headers.get('content-type')).toBe('application/problem+json');
    expect(await answer.json()).toMatchObject({ status: 503, detail: expect.stringMatching(/starting/) });
  }
});

it('once ready: health 200, handlers run, an expired token gets its own 401 detail, and each request is logged once', async () => {
  gateway.use({
    orders: async () => {
      calls.push('orders');
      return { statusCode: 200, headers: { 'Content-Type': 'application/json' }, body: '{}' };
    },
  });
  expect((await fetch(`${url}/_local/health`)).status).toBe(200);
  logged.splice(0);
  const get = (token: string | undefined) => fetch(`${url}/v1/orders/ord_1`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });

  expect((await get(localToken('acme', 'alice'))).status).toBe(200);
  const expired = await get(localToken('acme', 'alice', 0));
  expect(expired.status).toBe(401);
  expect(await expired.json()).toMatchObject({ type: 'urn:payments:problem:unauthorized', detail: 'The incoming token has expired' });
  const missing = await get(undefined);
  expect(await missing.json()).toMatchObject({ type: 'urn:payments:problem:unauthorized', detail: 'Unauthorized' });
  expect(calls).toEqual(['orders']); // the refused requests never reached the handler
  expect(logged.map((e) => [e.method, e.status, e.problemType ?? null])).toEqual([
    ['GET', 200, null],
    ['GET', 401, 'urn:payments:problem:unauthorized'],
    ['GET', 401, 'urn:payments:problem:unauthorized'],
  ]);
});

describe('CORS, as the stack configures it from corsAllowedOrigins', () => {
  const SHOP = 'http://127.0.0.1:3001';
  const ADMIN = 'https://admin.example.com';
  let cors: LocalApiGateway;
  let corsUrl: string;
  const reached: string[] = [];
  beforeAll(async () => {
    cors = new LocalApiGateway(undefined, [SHOP, ADMIN]);
    corsUrl = await cors.listen(0);
    const answer = (name: string) => async () => {
      reached.push(name);
      return { statusCode: 200, headers: { 'Content-Type': 'application/json' }, body: '{}' };
    };
    cors.use({ orders: answer('orders'), checkout: answer('checkout'), subscriptions: answer('subscriptions'), webhooks: answer('webhooks') });
  });
  afterAll(() => cors.close());
  const corsHeaders = (response: Response) => {
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => /^access-control|^vary$/.test(name) && (headers[name] = value));
    return headers;
  };
  const preflight = (path: string, origin: string, method = 'POST') =>
    fetch(`${corsUrl}${path}`, { method: 'OPTIONS', headers: { Origin: origin, 'Access-Control-Request-Method': method, 'Access-Control-Request-Headers': 'authorization,content-type,idempotency-key' } });

  it('answers a preflight from a listed origin itself: 204, that origin, the resource\'s methods, the three headers, a max age; no token needed, no handler run', async () => {
    reached.splice(0);
    const answer = await preflight('/v1/subscriptions', ADMIN);
    expect(answer.status).toBe(204);
    expect(corsHeaders(answer)).toEqual({
      'access-control-allow-origin': ADMIN,
      'access-control-allow-methods': 'POST,GET',
      'access-control-allow-headers': 'Authorization,Content-Type,Idempotency-Key',
      'access-control-max-age': '600',
      vary: 'Origin',
    });
    expect((await preflight('/v1/orders/ord_1', SHOP, 'GET')).headers.get('access-control-allow-methods')).toBe('GET');
    expect(reached).toEqual([]);
  });

  it('refuses a preflight from an unlisted origin the way API Gateway does: the first listed origin, which the browser does not accept', async () => {
    const answer = await preflight('/v1/checkouts', 'https://evil.example');
    expect(answer.headers.get('access-control-allow-origin')).toBe(SHOP);
    expect(answer.headers.get('access-control-allow-origin')).not.toBe('https://evil.example');
  });

  it('has no preflight on the Stripe webhook: OPTIONS there is a route that does not exist', async () => {
    const answer = await preflight('/v1/webhooks/stripe', SHOP);
    expect(answer.status).toBe(404);
    expect(await answer.json()).toMatchObject({ type: 'urn:payments:problem:route-not-found' });
    expect(answer.headers.get('access-control-allow-methods')).toBeNull();
  });

  it('puts the CORS headers on its own answers (the authorizer\'s 401, a 404), echoing the Origin as the stack does with several origins', async () => {
    reached.splice(0);
    const unauthorized = await fetch(`${corsUrl}/v1/orders/ord_1`, { headers: { Origin: ADMIN } });
    expect(unauthorized.status).toBe(401);
    expect([unauthorized.headers.get('access-control-allow-origin'), unauthorized.headers.get('access-control-expose-headers'), unauthorized.headers.get('vary')]).toEqual([
      ADMIN,
      'Idempotent-Replayed,Retry-After,Link',
      'Origin',
    ]);
    const missing = await fetch(`${corsUrl}/v2/nothing`, { headers: { Origin: SHOP } });
    expect([missing.status, missing.headers.get('access-control-allow-origin')]).toEqual([404, SHOP]);
    expect(reached).toEqual([]);
  });

  it('with one origin, names that origin on its own answers whatever the request\'s', async () => {
    const single = new LocalApiGateway(undefined, [SHOP]);
    const singleUrl = await single.listen(0);
    try {
      const answer = await fetch(`${singleUrl}/v1/orders/ord_1`, { headers: { Origin: 'https://evil.example' } });
      expect([answer.status, answer.headers.get('access-control-allow-origin')]).toEqual([503, SHOP]);
    } finally {
      await single.close();
    }
  });

  it('without allowed origins (the default): no preflight, no CORS header anywhere', async () => {
    const answer = await fetch(`${url}/v1/checkouts`, { method: 'OPTIONS', headers: { Origin: SHOP, 'Access-Control-Request-Method': 'POST' } });
    expect(answer.status).toBe(404);
    expect(corsHeaders(answer)).toEqual({});
    const refused = await fetch(`${url}/v1/orders/ord_1`, { headers: { Origin: SHOP } });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
  });
});
