import Stripe from 'stripe';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { apiClient, eventually } from '../support/http-client';

/** Subscriptions over HTTP through `npm start`'s stack: API, Stripe webhooks, queue, processor. */
let stack: LocalStack;
let stripe: Stripe;

beforeAll(async () => {
  stack = await startLocalStack({ ports: { api: 0, stripe: 0, sqs: 0, dynamodb: 0 }, webhookSecret: 'whsec_e2e_subs', queueVisibilitySeconds: 1, webhookRetryScheduleMs: [100, 200, 400] });
  const { hostname, port } = new URL(stack.stripeUrl!);
  stripe = new Stripe('sk_test_e2e', { host: hostname, port, protocol: 'http' });
}, 60_000);
afterAll(() => stack?.stop());

it('subscribes, pays, renews and fails a renewal, cancels at period end: the API follows Stripe through its webhooks', async () => {
  const api = apiClient(stack.apiUrl, 'acme', 'e2e-subscriber');
  const price = (await stripe.prices.create({ currency: 'eur', unit_amount: 1200, recurring: { interval: 'month' }, product_data: { name: 'E2E plan' } })).id;
  const body = { price, successUrl: 'https://shop.example/ok', cancelUrl: 'https://shop.example/plans' };
  const opened = await api.post('/v1/subscriptions', body);
  expect(opened.status).toBe(201);
  expect((await api.post('/v1/subscriptions', body)).body).toEqual(opened.body); // another tab
  const { subscriptionId, checkoutSessionId } = opened.body;
  await stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${checkoutSessionId}/complete`, {});
  const listed = async () => (await api.get('/v1/subscriptions')).body.data.find((s: { subscriptionId: string }) => s.subscriptionId === subscriptionId);
  await eventually(async () => (await listed())?.status === 'active');
  expect((await api.post('/v1/subscriptions', body)).body).toMatchObject({ type: 'urn:payments:problem:already-subscribed', subscriptionId });

  const stripeSubscriptionId = (await stripe.checkout.sessions.retrieve(checkoutSessionId)).subscription as string;
  await stripe.rawRequest('POST', `/v1/test_helpers/subscriptions/${stripeSubscriptionId}/renew`, {});
  await stripe.rawRequest('POST', `/v1/test_helpers/subscriptions/${stripeSubscriptionId}/renew`, { outcome: 'failed' });
  const atStripe = await stripe.subscriptions.retrieve(stripeSubscriptionId);
  await eventually(async () => {
    const ours = await listed();
    return ours?.status === 'past_due' && ours.currentPeriodEnd === new Date(atStripe.items.data[0].current_period_end * 1000).toISOString();
  });

  const canceled = await api.post(`/v1/subscriptions/${subscriptionId}/cancel`, undefined);
  expect(canceled).toMatchObject({ status: 200, body: { cancelAtPeriodEnd: true } });
  expect((await stripe.subscriptions.retrieve(stripeSubscriptionId)).cancel_at_period_end).toBe(true);
  expect((await apiClient(stack.apiUrl, 'globex', 'e2e-subscriber').post(`/v1/subscriptions/${subscriptionId}/cancel`, undefined)).status).toBe(404);
  const portal = await api.post('/v1/billing-portal-sessions', { returnUrl: 'https://shop.example/account' });
  expect(portal.status).toBe(201);
}, 60_000);
