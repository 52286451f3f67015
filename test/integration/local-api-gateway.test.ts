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
