import { createHmac, randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { preflightResources, routes } from '../../lib/routes';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { localToken } from '../../local/token';
import { testDynamoDb } from '../support/dynamodb';

/**
 * The local stack with an allowed origin, as `-c corsAllowedOrigins=…` deploys it: every
 * browser route's real handler answers that origin (its successes and its problems), never
 * another, and the Stripe webhook answers no browser at all.
 */
const APP = 'https://app.example.com';
const WEBHOOK_SECRET = 'whsec_e2e_cors';
let stack: LocalStack;
let stripe: Stripe;
beforeAll(async () => {
  stack = await startLocalStack({ dynamoDb: await testDynamoDb(), ports: { api: 0, stripe: 0, sqs: 0, dynamodb: 0 }, webhookSecret: WEBHOOK_SECRET, corsAllowedOrigins: [APP], deliverWebhooks: false });
  const { hostname, port } = new URL(stack.stripeUrl!);
  stripe = new Stripe('sk_test_e2e', { host: hostname, port, protocol: 'http' });
}, 60_000);
afterAll(() => stack?.stop());

const token = localToken('acme', 'alice');
const corsHeaders = (response: Response) => {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => /^access-control|^vary$/.test(name) && (headers[name] = value));
  return headers;
};
const call = (method: string, path: string, origin: string, body?: unknown) =>
  fetch(`${stack.apiUrl}${path}`, {
    method,
    headers: { Origin: origin, Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json', 'Idempotency-Key': randomUUID() }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

it('every browser route has a preflight, and each real handler answers the allowed origin, successes and problems alike', async () => {
  const price = (await stripe.prices.create({ currency: 'eur', unit_amount: 700, product_data: { name: 'CORS' } })).id;
  const created = await call('POST', '/v1/checkouts', APP, { lineItems: [{ price, quantity: 1 }], successUrl: 'https://app.example.com/ok', cancelUrl: 'https://app.example.com/no' });
  expect(created.status).toBe(201);
  const { orderId } = (await created.json()) as { orderId: string };
  const paths: Record<string, string> = { '/v1/orders/{orderId}': `/v1/orders/${orderId}`, '/v1/orders/{orderId}/history': `/v1/orders/${orderId}/history`, '/v1/subscriptions/{subscriptionId}/cancel': '/v1/subscriptions/sub_nope/cancel', '/problems/{slug}': '/problems/not-found' };
  const statuses: string[] = [];
  for (const route of routes.filter((r) => !r.serverToServer)) {
    const path = paths[route.resource] ?? route.resource;
    const preflight = await fetch(`${stack.apiUrl}${path}`, { method: 'OPTIONS', headers: { Origin: APP, 'Access-Control-Request-Method': route.method } });
    expect([route.resource, preflight.status, preflight.headers.get('access-control-allow-origin')]).toEqual([route.resource, 204, APP]);
    expect(preflight.headers.get('access-control-allow-methods')!.split(',')).toContain(route.method);
    // A body that fails validation where there is one: a problem answer must be readable too.
    const answer = await call(route.method, path, APP, route.method === 'POST' ? {} : undefined);
    statuses.push(`${route.method} ${route.resource} ${answer.status}`);
    expect({ route: route.resource, headers: corsHeaders(answer) }).toEqual({
      route: route.resource,
      headers: { 'access-control-allow-origin': APP, 'access-control-expose-headers': 'Idempotent-Replayed,Retry-After,Link', vary: 'Origin' },
    });
    const elsewhere = await call(route.method, path, 'https://evil.example', route.method === 'POST' ? {} : undefined);
    expect({ route: route.resource, headers: corsHeaders(elsewhere) }).toEqual({ route: route.resource, headers: { vary: 'Origin' } });
  }
  // Both kinds were exercised: successes (orders, problem pages, subscriptions list) and problems (400s).
  expect(statuses).toEqual(expect.arrayContaining([expect.stringMatching(/^GET \/v1\/orders\/\{orderId\} 200$/), expect.stringMatching(/^POST \/v1\/checkouts 400$/)]));
  expect(preflightResources().length).toBe(new Set(routes.filter((r) => !r.serverToServer).map((r) => r.resource)).size);
}, 60_000);

it('the replay marker and Retry-After are exposed to the allowed origin on a replay', async () => {
  const price = (await stripe.prices.create({ currency: 'eur', unit_amount: 800, product_data: { name: 'CORS replay' } })).id;
  const key = randomUUID();
  const post = () =>
    fetch(`${stack.apiUrl}/v1/checkouts`, {
      method: 'POST',
      headers: { Origin: APP, Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', 'Idempotency-Key': key },
      body: JSON.stringify({ lineItems: [{ price, quantity: 1 }], successUrl: 'https://app.example.com/ok', cancelUrl: 'https://app.example.com/no' }),
    });
  expect((await post()).status).toBe(201);
  const replay = await post();
  expect([replay.headers.get('idempotent-replayed'), replay.headers.get('access-control-allow-origin')]).toEqual(['true', APP]);
  expect(replay.headers.get('access-control-expose-headers')!.split(',')).toEqual(expect.arrayContaining(['Idempotent-Replayed', 'Retry-After']));
});

it('the Stripe webhook answers no browser: no preflight, no CORS header even for the allowed origin', async () => {
  const preflight = await fetch(`${stack.apiUrl}/v1/webhooks/stripe`, { method: 'OPTIONS', headers: { Origin: APP, 'Access-Control-Request-Method': 'POST' } });
  expect(preflight.status).toBe(404);
  expect(preflight.headers.get('access-control-allow-methods')).toBeNull();
  const payload = JSON.stringify({ id: 'evt_cors_1', object: 'event', type: 'customer.created', created: Math.floor(Date.now() / 1000), data: { object: { id: 'cus_1', object: 'customer' } }, livemode: false, api_version: Stripe.API_VERSION });
  const timestamp = Math.floor(Date.now() / 1000);
  const signature = createHmac('sha256', WEBHOOK_SECRET).update(`${timestamp}.${payload}`).digest('hex');
  const signed = await fetch(`${stack.apiUrl}/v1/webhooks/stripe`, { method: 'POST', headers: { Origin: APP, 'Content-Type': 'application/json', 'Stripe-Signature': `t=${timestamp},v1=${signature}` }, body: payload });
  expect(signed.status).toBeLessThan(500);
  expect(corsHeaders(signed)).toEqual({});
});
