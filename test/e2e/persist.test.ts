import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { stripeClientFor } from '../support/harness';
import { apiClient, eventually } from '../support/http-client';
import { freePorts } from '../support/ports';

/** --persist and Stripe's promise to keep retrying: an event not delivered before a stop is delivered after it. */
const dataDir = mkdtempSync(path.join(tmpdir(), 'payments-persist-'));
const running: LocalStack[] = [];
afterAll(async () => {
  await Promise.all(running.map((s) => s.stop()));
  rmSync(dataDir, { recursive: true, force: true });
});
let ports: { api: number; stripe: number; sqs: number; dynamodb: number };
beforeAll(async () => {
  const [api, stripe, sqs, dynamodb] = await freePorts(4);
  ports = { api, stripe, sqs, dynamodb };
});
// The same ports each time: the handler modules, loaded once per process, keep their endpoints.
const start = async () => {
  const stack = await startLocalStack({ ports, persistDir: dataDir, webhookSecret: 'whsec_persist', webhookRetryScheduleMs: [60_000] });
  running.push(stack);
  return stack;
};

it('redelivers, after a restart, the events whose webhook had not gone through', async () => {
  const first = await start();
  const stripe = stripeClientFor(first.stripeUrl!);
  const price = await stripe.prices.create({ currency: 'eur', unit_amount: 700, product_data: { name: 'Backlog' } });
  const created = await apiClient(first.apiUrl).post('/v1/checkouts', { lineItems: [{ price: price.id, quantity: 1 }], successUrl: 'https://s.example/', cancelUrl: 'https://s.example/' });
  expect(created.status).toBe(201);

  // The webhook route is unreachable when the customer pays; Stripe's next retry is a minute away.
  const [endpoint] = (await stripe.webhookEndpoints.list()).data;
  await stripe.webhookEndpoints.update(endpoint.id, { url: 'http://127.0.0.1:9/unreachable' });
  await stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${created.body.checkoutSessionId}/complete`, {});
  await eventually(async () => first.stripe!.webhooks.attempts.filter((a) => a.status === 'network_error').length >= 3);
  expect((await apiClient(first.apiUrl).get(`/v1/orders/${created.body.orderId}`)).body.status).toBe('pending');
  await first.stop();

  const second = await start();
  await eventually(async () => (await apiClient(second.apiUrl).get(`/v1/orders/${created.body.orderId}`)).body.status === 'paid');
  const delivered = second.stripe!.webhooks.attempts.filter((a) => a.status === 200).map((a) => a.eventId);
  const emitted = second.stripe!.state.events.filter((e) => e.created && delivered.includes(e.id)).map((e) => e.type).sort();
  expect(emitted).toEqual(['charge.succeeded', 'checkout.session.completed', 'payment_intent.succeeded']);
  expect(new Set(delivered).size).toBe(delivered.length); // each once
  await second.stop();

  // Delivered now: a third start sends nothing again.
  const third = await start();
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(third.stripe!.webhooks.attempts).toHaveLength(0);
}, 60_000);
