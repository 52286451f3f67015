import { spawn } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { preflightResources, routes } from '../../lib/routes';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { localToken } from '../../local/token';
import { testDynamoDb } from '../support/dynamodb';
import { eventually } from '../support/http-client';
import { freePorts } from '../support/ports';

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

it('the Stripe webhook is server to server: its handler answers with no CORS header; OPTIONS on it has no preflight, only the gateway\'s 404 any unknown method gets', async () => {
  // No OPTIONS method on the route: API Gateway answers it as it answers any method a resource
  // lacks, with the route-not-found gateway response. That response carries the CORS headers of
  // every gateway response (DEFAULT_4XX cannot differ per route), but it is no preflight: not
  // 2xx, no Allow-Methods/Headers, so a browser never sends the POST a preflight would guard.
  const preflight = await fetch(`${stack.apiUrl}/v1/webhooks/stripe`, { method: 'OPTIONS', headers: { Origin: APP, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type,stripe-signature' } });
  const unknownPath = await fetch(`${stack.apiUrl}/v2/nothing`, { method: 'OPTIONS', headers: { Origin: APP, 'Access-Control-Request-Method': 'POST' } });
  expect([preflight.status, ((await preflight.json()) as { type: string }).type]).toEqual([404, 'urn:payments:problem:route-not-found']);
  expect(corsHeaders(preflight)).toEqual(corsHeaders(unknownPath));
  expect(corsHeaders(preflight)).toEqual({ 'access-control-allow-origin': APP, 'access-control-expose-headers': 'Idempotent-Replayed,Retry-After,Link', vary: 'Origin' });
  const payload = JSON.stringify({ id: 'evt_cors_1', object: 'event', type: 'customer.created', created: Math.floor(Date.now() / 1000), data: { object: { id: 'cus_1', object: 'customer' } }, livemode: false, api_version: Stripe.API_VERSION });
  const timestamp = Math.floor(Date.now() / 1000);
  const signature = createHmac('sha256', WEBHOOK_SECRET).update(`${timestamp}.${payload}`).digest('hex');
  const post = (stripeSignature: string) => fetch(`${stack.apiUrl}/v1/webhooks/stripe`, { method: 'POST', headers: { Origin: APP, 'Content-Type': 'application/json', 'Stripe-Signature': stripeSignature }, body: payload });
  // The handler's own answers, accepted and refused: nothing for a browser to read, not even Vary.
  const signed = await post(`t=${timestamp},v1=${signature}`);
  const forged = await post(`t=${timestamp},v1=${'0'.repeat(64)}`);
  expect([signed.status, forged.status]).toEqual([200, 400]);
  expect([corsHeaders(signed), corsHeaders(forged)]).toEqual([{}, {}]);
});

describe('npm start: the allowed origins come from the setting the stack reads, plus the shop\'s', () => {
  it('allows CORS_ALLOWED_ORIGINS (cdk.json\'s corsAllowedOrigins otherwise) and the shop on 127.0.0.1 and on localhost', async () => {
    const [api, stripePort, sqs, dynamodb, shop] = (await freePorts(5)).map(String);
    const child = spawn(process.execPath, ['--import', 'tsx', 'local/start.ts'], {
      env: { ...process.env, PORT: api, STRIPE_EMULATOR_PORT: stripePort, SQS_PORT: sqs, DYNAMODB_PORT: dynamodb, SHOP_PORT: shop, DYNAMODB_BACKEND: 'dynalite', STRIPE_SECRET_KEY: '', CORS_ALLOWED_ORIGINS: 'http://localhost:5173' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (chunk) => (output += chunk));
    child.stderr!.on('data', (chunk) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      await Promise.race([eventually(async () => /^ready /m.test(output), 60_000, 100), exited.then((code) => { throw new Error(`exited ${code}:\n${output}`); })]);
      const allowOrigin = async (origin: string) =>
        (await fetch(`http://127.0.0.1:${api}/v1/checkouts`, { method: 'OPTIONS', headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization,content-type,idempotency-key' } })).headers.get('access-control-allow-origin');
      for (const origin of ['http://localhost:5173', `http://127.0.0.1:${shop}`, `http://localhost:${shop}`]) expect([origin, await allowOrigin(origin)]).toEqual([origin, origin]);
      // Not listed: the preflight names another origin, which the browser refuses.
      expect(await allowOrigin('http://localhost:5174')).not.toBe('http://localhost:5174');
      expect(output).toMatch(new RegExp(`^\\s+CORS\\s+http://localhost:5173, http://127\\.0\\.0\\.1:${shop}, http://localhost:${shop}  \\(CORS_ALLOWED_ORIGINS, plus the shop's\\)$`, 'm'));
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  }, 90_000);

  it('stops before starting anything on a list the stack would refuse', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'local/start.ts'], { env: { ...process.env, CORS_ALLOWED_ORIGINS: 'https://*.example.com' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stderr!.on('data', (chunk) => (output += chunk));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect([code, output.trim()]).toEqual([1, expect.stringMatching(/^The local stack could not start: Environment variable CORS_ALLOWED_ORIGINS: "https:\/\/\*\.example\.com" is refused: wildcards are not supported/)]);
  }, 30_000);
});
