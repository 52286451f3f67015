import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { startStripeEmulator, type StripeEmulator } from '../../local/stripe-emulator/server';
import { MAX_WEBHOOK_ENDPOINTS } from '../../local/stripe-emulator/webhook-endpoints';
import { createPrice, stripeClientFor } from '../support/harness';
import { eventually } from '../support/http-client';

/** /v1/webhook_endpoints, driven by the real SDK, shaped and behaving like Stripe's. */
let emulator: StripeEmulator;
let stripe: Stripe;
let receiver: Server;
let receiverUrl: string;
const received: { path: string; type: string; verifiedWith: string }[] = [];
const secrets = new Map<string, string>(); // path -> signing secret returned at creation

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const secret = secrets.get(req.url!)!;
      // Verified with the secret the create call returned for this endpoint, by the SDK itself.
      const event = Stripe.webhooks.constructEvent(Buffer.concat(chunks), req.headers['stripe-signature'] as string, secret);
      received.push({ path: req.url!, type: event.type, verifiedWith: secret });
      res.writeHead(200).end('{}');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  emulator = await startStripeEmulator({ webhookRetryScheduleMs: [] });
  stripe = stripeClientFor(emulator.url);
});
afterAll(async () => {
  await emulator.close();
  await new Promise((resolve) => receiver.close(resolve));
});
afterEach(async () => {
  // Listed first, then deleted: a deleted object cannot be the cursor of the next page (404, as at Stripe).
  const endpoints = await stripe.webhookEndpoints.list({ limit: 100 }).autoPagingToArray({ limit: 100 });
  for (const endpoint of endpoints) await stripe.webhookEndpoints.del(endpoint.id);
  received.splice(0);
});

const create = async (path: string, enabledEvents: Stripe.WebhookEndpointCreateParams.EnabledEvent[]) => {
  const endpoint = await stripe.webhookEndpoints.create({ url: `${receiverUrl}${path}`, enabled_events: enabledEvents, description: `endpoint ${path}` });
  secrets.set(path, endpoint.secret!);
  return endpoint;
};
const payOneSession = async () => {
  const session = await stripe.checkout.sessions.create({ mode: 'payment', line_items: [{ price: await createPrice(stripe, 500), quantity: 1 }], success_url: 'https://s.example/', cancel_url: 'https://s.example/' });
  await stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${session.id}/complete`, {});
  return emulator.state.events.filter((e) => e.type === 'checkout.session.completed').length;
};

it('creates an endpoint shaped like Stripe\'s, returning the signing secret once', async () => {
  const endpoint = await stripe.webhookEndpoints.create({ url: 'https://api.example.com/dev/v1/webhooks/stripe', enabled_events: ['checkout.session.completed', 'charge.refunded'], api_version: '2026-10-28.endive', metadata: { stage: 'dev' } });
  expect(Object.keys(endpoint).sort()).toEqual(['api_version', 'application', 'created', 'description', 'enabled_events', 'id', 'livemode', 'metadata', 'object', 'secret', 'status', 'url']);
  expect(endpoint).toMatchObject({ object: 'webhook_endpoint', status: 'enabled', api_version: '2026-10-28.endive', livemode: false, metadata: { stage: 'dev' }, enabled_events: ['checkout.session.completed', 'charge.refunded'] });
  expect(endpoint.id).toMatch(/^we_\w+$/);
  expect(endpoint.secret).toMatch(/^whsec_\w+$/);

  const retrieved = await stripe.webhookEndpoints.retrieve(endpoint.id);
  expect(retrieved.secret).toBeUndefined();
  const { secret: _secret, ...withoutSecret } = endpoint;
  expect(retrieved).toEqual(withoutSecret);
  const listed = await stripe.webhookEndpoints.list();
  expect(listed).toMatchObject({ object: 'list', has_more: false, url: '/v1/webhook_endpoints' });
  expect(listed.data).toEqual([withoutSecret]);
});

it('disables and re-enables an endpoint with disabled=true|false, and updates its events', async () => {
  const { id } = await create('/toggle', ['*']);
  expect((await stripe.webhookEndpoints.update(id, { disabled: true })).status).toBe('disabled');
  expect((await stripe.webhookEndpoints.retrieve(id)).status).toBe('disabled');
  const updated = await stripe.webhookEndpoints.update(id, { disabled: false, enabled_events: ['refund.updated'] });
  expect(updated).toMatchObject({ status: 'enabled', enabled_events: ['refund.updated'] });
  expect(updated.secret).toBeUndefined();
});

it.each([
  ['a missing url', { enabled_events: ['*'] }, 'url', 'parameter_missing'],
  ['missing events', { url: 'https://x.example/hook' }, 'enabled_events', 'parameter_missing'],
  ['a URL without http(s)', { url: 'ftp://x.example/hook', enabled_events: ['*'] }, 'url', 'url_invalid'],
  ['an event type that is not one', { url: 'https://x.example/hook', enabled_events: ['Checkout Completed'] }, 'enabled_events', 'parameter_invalid'],
  ['an unknown parameter', { url: 'https://x.example/hook', enabled_events: ['*'], secret: 'whsec_mine' }, 'secret', 'parameter_unknown'],
])('refuses %s with a Stripe invalid_request_error', async (_, params, param, code) => {
  const error = await stripe.webhookEndpoints.create(params as never).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
  expect(error).toMatchObject({ statusCode: 400, param, code });
  expect((await stripe.webhookEndpoints.list()).data).toHaveLength(0);
});

it('answers 404 resource_missing for an unknown endpoint, and deletes like Stripe', async () => {
  await expect(stripe.webhookEndpoints.retrieve('we_nope')).rejects.toMatchObject({ statusCode: 404, code: 'resource_missing' });
  await expect(stripe.webhookEndpoints.update('we_nope', { disabled: true })).rejects.toMatchObject({ statusCode: 404 });
  const { id } = await create('/gone', ['*']);
  expect(await stripe.webhookEndpoints.del(id)).toEqual({ id, object: 'webhook_endpoint', deleted: true });
  await expect(stripe.webhookEndpoints.retrieve(id)).rejects.toMatchObject({ statusCode: 404 });
});

it(`holds at most ${MAX_WEBHOOK_ENDPOINTS} endpoints`, async () => {
  for (let i = 0; i < MAX_WEBHOOK_ENDPOINTS; i++) await create(`/n${i}`, ['*']);
  await expect(create('/one-too-many', ['*'])).rejects.toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
  expect((await stripe.webhookEndpoints.list({ limit: 100 })).data).toHaveLength(MAX_WEBHOOK_ENDPOINTS);
});

it('delivers each event to the enabled endpoints subscribed to its type, each signed with its own secret, and nothing to a disabled one', async () => {
  const completedOnly = await create('/completed', ['checkout.session.completed']);
  await create('/all', ['*']);
  await create('/refunds', ['charge.refunded']);
  const completed = await payOneSession();
  const eventsSoFar = emulator.state.events.length;
  await eventually(async () => received.filter((r) => r.path === '/all').length === eventsSoFar);
  await emulator.webhooks.idle();
  expect(received.filter((r) => r.path === '/completed').map((r) => r.type)).toEqual(['checkout.session.completed']);
  expect(received.filter((r) => r.path === '/refunds')).toHaveLength(0);
  expect(new Set(received.map((r) => r.verifiedWith)).size).toBe(2);

  await stripe.webhookEndpoints.update(completedOnly.id, { disabled: true });
  expect(await payOneSession()).toBe(completed + 1);
  await eventually(async () => received.filter((r) => r.path === '/all').length === emulator.state.events.length);
  await emulator.webhooks.idle();
  expect(received.filter((r) => r.path === '/completed')).toHaveLength(1); // still the first one only
});
