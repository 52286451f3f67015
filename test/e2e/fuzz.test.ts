import { request } from 'node:http';
import { prng } from '../../bench/storm';
import { LOCAL_TABLE_NAMES } from '../../local/dynamodb';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { testDynamoDb } from '../support/dynamodb';
import { countItems } from '../support/harness';
import { localToken } from '../../local/token';
import { contractViolations } from '../support/contract';

/**
 * Throws malformed JSON, wrong types, huge bodies, odd unicode and odd headers at every route of
 * the running stack (the local API Gateway in front of the real handlers). Every answer must be
 * a 4xx with a problem+json body that docs/openapi.yaml lists for that route and status: a client
 * mistake is never a 5xx.
 */
let stack: LocalStack;
beforeAll(async () => {
  stack = await startLocalStack({ dynamoDb: await testDynamoDb(), ports: { api: 0, stripe: 0, sqs: 0, dynamodb: 0 }, webhookSecret: 'whsec_fuzz' });
}, 60_000);
afterAll(() => stack?.stop());

const UUID = '8e03978e-40d5-43e8-bc93-6894a57f9324';
const STRINGS = ['', ' ', 'price_1', 'ord_0123456789abcdef0123456789abcdef', '🧾💸', 'مرحبا', 'e\u0301', '\u0000', '\ud800', '<script>', '../../etc/passwd', 'x'.repeat(3000), '%s%n', '${jndi:ldap://x}'];
const JUNK_BODIES = ['{', '[', '{"a":}', 'nul', 'undefined', '\u0000\u0001', '{"lineItems": [}', '"just a string"', '42', 'true', '[]', '{}', '['.repeat(5000), '{"__proto__": {"admin": true}}', '{"constructor": {"prototype": {"x": 1}}}'];

function fuzzValue(next: () => number, depth = 0): unknown {
  const pick = <T>(items: T[]) => items[Math.floor(next() * items.length)];
  switch (Math.floor(next() * (depth > 2 ? 6 : 8))) {
    case 0: return pick(STRINGS);
    case 1: return pick([0, -1, 1.5, 1e308, -0, Number.MAX_SAFE_INTEGER + 2, 999999999999]);
    case 2: return pick([true, false, null]);
    case 3: return pick(['price_abc', 'https://shop.example/ok', 'ord_0123456789abcdef0123456789abcdef', 'requested_by_customer']);
    case 4: return Math.floor(next() * 5000) - 1000;
    case 5: return pick(STRINGS).repeat(Math.floor(next() * 3) + 1);
    case 6: return Array.from({ length: Math.floor(next() * 4) }, () => fuzzValue(next, depth + 1));
    default: {
      const keys = ['lineItems', 'price', 'quantity', 'successUrl', 'cancelUrl', 'customerEmail', 'orderId', 'amount', 'reason', 'amountTotal', pick(STRINGS)];
      return Object.fromEntries(Array.from({ length: Math.floor(next() * 5) }, () => [pick(keys), fuzzValue(next, depth + 1)]));
    }
  }
}

interface Case {
  method: string;
  path: string;
  headers: Record<string, string | string[]>;
  body?: Buffer;
}

function fuzzCase(next: () => number, route: { method: string; path: () => string; authorized: boolean }): Case {
  const pick = <T>(items: T[]) => items[Math.floor(next() * items.length)];
  const headers: Record<string, string | string[]> = {};
  if (route.authorized && next() < 0.9) headers.Authorization = `Bearer ${localToken(pick(['acme', 'globex']), pick(['alice', 'bob']))}`;
  headers['Content-Type'] = pick(['application/json', 'application/json; charset=utf-8', 'text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', 'application/json, text/plain']);
  if (next() < 0.1) delete headers['Content-Type'];
  const key = pick([UUID, `"${UUID}"`, 'not-a-uuid', '', 'k'.repeat(8000), Buffer.from('🔑').toString('latin1') /* raw UTF-8 bytes on the wire */, `${UUID}, ${UUID}`, [UUID, '3f0f1a7e-2b7c-4a7e-9d3e-0c1d2e3f4a5b'], UUID.toUpperCase()]);
  if (next() < 0.9) headers['Idempotency-Key'] = key;
  if (route.path().includes('webhooks') && next() < 0.7) headers['Stripe-Signature'] = pick(['t=1,v1=00', 'garbage', `t=${Math.floor(Date.now() / 1000)},v1=${'a'.repeat(64)}`, '']);
  let body: Buffer | undefined;
  const shape = next();
  if (shape < 0.35) body = Buffer.from(JSON.stringify(fuzzValue(next)) ?? 'null');
  else if (shape < 0.6) body = Buffer.from(pick(JUNK_BODIES));
  else if (shape < 0.7) body = Buffer.from(JSON.stringify({ lineItems: [{ price: 'price_x', quantity: 1 }], successUrl: 'https://a.example', cancelUrl: 'https://a.example', pad: 'x'.repeat(70_000 + Math.floor(next() * 100_000)) }));
  else if (shape < 0.72) body = Buffer.alloc(11 * 1024 * 1024, 0x7b); // over API Gateway's 10 MB
  else if (shape < 0.8) body = Buffer.from(Array.from({ length: 64 }, () => Math.floor(next() * 256)));
  else if (shape < 0.9) body = Buffer.from(JSON.stringify({ orderId: pick(STRINGS), amount: fuzzValue(next), reason: pick(STRINGS), lineItems: fuzzValue(next) }));
  return { method: route.method, path: route.path(), headers, body };
}

function send(c: Case): Promise<{ status: number; contentType: string | undefined; headers: Record<string, string>; body: string }> {
  const url = new URL(stack.apiUrl);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method: c.method, path: c.path, headers: { ...c.headers, ...(c.body ? { 'Content-Length': String(c.body.length) } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk) => chunks.push(chunk));
      const headers = Object.fromEntries(Object.entries(res.headers).map(([name, value]) => [name, Array.isArray(value) ? value.join(', ') : String(value)]));
      res.on('end', () => resolve({ status: res.statusCode!, contentType: res.headers['content-type'], headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(c.body);
  });
}

const next = prng(20261123); // the same cases on every run
const orderPaths = () => `/v1/orders/${encodeURIComponent(String(fuzzValue(next)).toWellFormed())}`.slice(0, 2000);
const ROUTES = [
  { name: 'POST /v1/checkouts', method: 'POST', path: () => '/v1/checkouts', authorized: true, distinctAnswers: 6 },
  { name: 'POST /v1/refunds', method: 'POST', path: () => '/v1/refunds', authorized: true, distinctAnswers: 6 },
  { name: 'GET /v1/orders/{orderId}', method: 'GET', path: orderPaths, authorized: true, distinctAnswers: 3 },
  { name: 'POST /v1/webhooks/stripe', method: 'POST', path: () => '/v1/webhooks/stripe', authorized: false, distinctAnswers: 2 },
];
const CASES_PER_ROUTE = 150;

describe.each(ROUTES)('$name', (route) => {
  it(`answers ${CASES_PER_ROUTE} malformed requests with 4xx problem+json, never 5xx`, async () => {
    const failures: string[] = [];
    const answered = new Set<string>();
    for (let i = 0; i < CASES_PER_ROUTE; i++) {
      const c = fuzzCase(next, route);
      const response = await send(c);
      let type: unknown;
      try {
        type = JSON.parse(response.body).type;
      } catch {
        type = undefined;
      }
      const ok = response.status >= 400 && response.status < 500 && response.contentType === 'application/problem+json' && typeof type === 'string' && type.startsWith('urn:payments:problem:');
      answered.add(`${response.status} ${String(type)}`);
      const violations = await contractViolations(c.method, c.path, { status: response.status, headers: response.headers, bodyText: response.body || undefined });
      if (!ok || violations.length > 0) failures.push(`${[...violations, `${response.status} ${response.contentType} ${response.body.slice(0, 200)}`].join("; ")} ← ${c.method} ${c.path.slice(0, 80)} ${JSON.stringify(c.headers).slice(0, 200)} ${c.body?.subarray(0, 120).toString()}`);
    }
    expect(failures).toEqual([]);
    // Not vacuous: the cases reach different checks (auth, key, media type, size, schema, business).
    expect(answered.size).toBeGreaterThanOrEqual(route.distinctAnswers);
  }, 120_000);
});

it('left no trace: no Stripe object created, no order written', async () => {
  expect(Object.fromEntries(stack.stripe!.state.executedCreates)).toEqual({});
  expect(await countItems(stack.dynamoDb.client, LOCAL_TABLE_NAMES.orders)).toBe(0);
});
