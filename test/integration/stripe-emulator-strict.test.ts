import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import objectKeys from '../fixtures/stripe-object-keys.json';
import { startStripeEmulator, type StripeEmulator } from '../../local/stripe-emulator/server';
import { stripeClientFor, stripeError } from '../support/harness';

/**
 * The emulator is as strict as Stripe where our audit found it kind: key pruning, unsaved
 * validation errors, disputes, refunds outside the API and their failures, Payment Links,
 * same-second events, event and refund listing, rate limits. Driven by the real SDK; each test
 * counts what the emulator holds (objects, events), not only status codes.
 */
const SECRET = 'whsec_strict';
let emulator: StripeEmulator;
let stripe: Stripe;
let webhookServer: Server;

beforeAll(async () => {
  // Bounces every delivery of an event about an object whose metadata says so.
  webhookServer = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const event = Stripe.webhooks.constructEvent(Buffer.concat(chunks), req.headers['stripe-signature'] as string, SECRET);
      const bounce = (event.data.object as { metadata?: Record<string, string> }).metadata?.webhook === 'bounce';
      res.writeHead(bounce ? 500 : 200).end('{}');
    });
  });
  await new Promise<void>((resolve) => webhookServer.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(webhookServer.address() as AddressInfo).port}/hook`;
  emulator = await startStripeEmulator({ webhook: { url, secret: SECRET }, webhookRetryScheduleMs: [20] });
  stripe = stripeClientFor(emulator.url);
});
afterAll(async () => {
  await emulator.close();
  await new Promise((resolve) => webhookServer.close(resolve));
});

type Params = Record<string, string | number | boolean | Record<string, string>>;
const helper = <T = Record<string, unknown>>(path: string, params: Params = {}) => stripe.rawRequest('POST', path, params) as Promise<T>;

const paidIntent = async (amount = 1000, sessionMetadata: Record<string, string> = {}) => {
  const price = await stripe.prices.create({ currency: 'eur', unit_amount: amount, product_data: { name: 'Strict' } });
  const session = await stripe.checkout.sessions.create({
    mode: 'payment', line_items: [{ price: price.id, quantity: 1 }], success_url: 'https://shop.example/ok', metadata: sessionMetadata,
  });
  await helper(`/v1/test_helpers/checkout/sessions/${session.id}/complete`);
  return (await stripe.checkout.sessions.retrieve(session.id)).payment_intent as string;
};
const refundsAtStripe = (paymentIntent: string) => [...emulator.state.refunds.values()].filter((r) => r.payment_intent === paymentIntent);
const eventsAbout = (objectId: string) =>
  emulator.state.events.filter((e) => (e.data as { object: { id: string } }).object.id === objectId);
const typesAbout = (objectId: string) => eventsAbout(objectId).map((e) => e.type);
const chargeOf = async (paymentIntent: string) => stripe.charges.retrieve((await stripe.paymentIntents.retrieve(paymentIntent)).latest_charge as string);

describe('Idempotency-Key ageing', () => {
  it('forgets pruned keys: the same request with the same key then executes again', async () => {
    const pi = await paidIntent(1000);
    const params = { payment_intent: pi, amount: 300, metadata: { refundId: 'rf_1' } };
    const first = await stripe.refunds.create(params, { idempotencyKey: 'prune-me' });
    const replay = await stripe.refunds.create(params, { idempotencyKey: 'prune-me' });
    expect(replay.id).toBe(first.id);
    expect(refundsAtStripe(pi)).toHaveLength(1);

    // Default: only keys at least 24 h old go; this one is seconds old and stays.
    expect(await helper('/v1/test_helpers/idempotency_keys/prune')).toMatchObject({ pruned: 0 });
    expect(emulator.state.idempotency.has('prune-me')).toBe(true);
    const pruned = await helper<{ pruned: number }>('/v1/test_helpers/idempotency_keys/prune', { older_than_seconds: 0, key: 'prune-me' });
    expect(pruned.pruned).toBe(1);
    expect(emulator.state.idempotency.has('prune-me')).toBe(false);

    const again = await stripe.refunds.create(params, { idempotencyKey: 'prune-me' });
    expect(again.id).not.toBe(first.id);
    expect(again.lastResponse.headers['idempotent-replayed']).toBeUndefined();
    expect(refundsAtStripe(pi).map((r) => r.metadata)).toEqual([{ refundId: 'rf_1' }, { refundId: 'rf_1' }]);
    expect((await chargeOf(pi)).amount_refunded).toBe(600);
  });

  it('treats keys saved 24 h ago on the emulator clock as gone', async () => {
    const pi = await paidIntent(1000);
    const params = { payment_intent: pi, amount: 100 };
    // A frozen clock: the test must not depend on how many wall-clock seconds pass while it runs.
    await helper('/v1/test_helpers/clock', { frozen_at: Math.floor(Date.now() / 1000) + 10 });
    await stripe.refunds.create(params, { idempotencyKey: 'ages-out' });
    await helper('/v1/test_helpers/clock', { advance_seconds: 86_399 });
    expect((await stripe.refunds.create(params, { idempotencyKey: 'ages-out' })).lastResponse.headers['idempotent-replayed']).toBe('true');
    expect(refundsAtStripe(pi)).toHaveLength(1);
    await helper('/v1/test_helpers/clock', { advance_seconds: 1 });
    expect((await stripe.refunds.create(params, { idempotencyKey: 'ages-out' })).lastResponse.headers['idempotent-replayed']).toBeUndefined();
    expect(refundsAtStripe(pi)).toHaveLength(2);
    await helper('/v1/test_helpers/clock', { unfreeze: true });
  });
});

describe('what Stripe saves under a key', () => {
  it('does not save validation errors: a retry with the same key after fixing the cause executes', async () => {
    const pi = await paidIntent(1000);
    const unknownIntent = await stripeError(stripe.refunds.create({ payment_intent: 'pi_typo' }, { idempotencyKey: 'fix-me' }));
    expect(unknownIntent).toMatchObject({ statusCode: 404, code: 'resource_missing' });
    const badAmount = await stripeError(stripe.refunds.create({ payment_intent: pi, amount: -5 }, { idempotencyKey: 'fix-me' }));
    expect(badAmount).toMatchObject({ statusCode: 400, code: 'parameter_invalid_integer' });
    expect(emulator.state.idempotency.has('fix-me')).toBe(false);
    const fixed = await stripe.refunds.create({ payment_intent: pi, amount: 200 }, { idempotencyKey: 'fix-me' });
    expect(fixed.amount).toBe(200);
    expect(refundsAtStripe(pi)).toHaveLength(1);
  });

  it('saves errors raised while executing: the retry replays them, other parameters are an idempotency_error', async () => {
    const pi = await paidIntent(1000);
    const tooLarge = await stripeError(stripe.refunds.create({ payment_intent: pi, amount: 1001 }, { idempotencyKey: 'too-large' }));
    expect(tooLarge).toMatchObject({ statusCode: 400, code: 'amount_too_large' });
    const replayed = await stripeError(stripe.refunds.create({ payment_intent: pi, amount: 1001 }, { idempotencyKey: 'too-large' }));
    expect(replayed).toMatchObject({ statusCode: 400, code: 'amount_too_large' });
    expect(replayed.headers?.['idempotent-replayed']).toBe('true');
    expect(await stripeError(stripe.refunds.create({ payment_intent: pi, amount: 1000 }, { idempotencyKey: 'too-large' }))).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);

    await stripe.refunds.create({ payment_intent: pi });
    const already = await stripeError(stripe.refunds.create({ payment_intent: pi }, { idempotencyKey: 'already' }));
    expect(already).toMatchObject({ code: 'charge_already_refunded' });
    expect((await stripeError(stripe.refunds.create({ payment_intent: pi }, { idempotencyKey: 'already' }))).headers?.['idempotent-replayed']).toBe('true');
    expect(refundsAtStripe(pi)).toHaveLength(1);
  });

  it('saves a 500 of a request that began executing (retry replays it); saved=false models a failure in front of the API', async () => {
    const pi = await paidIntent(1000);
    await helper('/v1/test_helpers/faults', { path: '/v1/refunds', method: 'POST', kind: 'error_500', count: 1 });
    expect(await stripeError(stripe.refunds.create({ payment_intent: pi, amount: 100 }, { idempotencyKey: 'k500' }))).toBeInstanceOf(Stripe.errors.StripeAPIError);
    const replayed = await stripeError(stripe.refunds.create({ payment_intent: pi, amount: 100 }, { idempotencyKey: 'k500' }));
    expect(replayed).toMatchObject({ statusCode: 500 });
    expect(replayed.headers?.['idempotent-replayed']).toBe('true');
    expect(refundsAtStripe(pi)).toHaveLength(0);

    await helper('/v1/test_helpers/faults', { path: '/v1/refunds', method: 'POST', kind: 'error_500', count: 1, saved: 'false' });
    expect(await stripeError(stripe.refunds.create({ payment_intent: pi, amount: 100 }, { idempotencyKey: 'k500-unsaved' }))).toMatchObject({ statusCode: 500 });
    const retried = await stripe.refunds.create({ payment_intent: pi, amount: 100 }, { idempotencyKey: 'k500-unsaved' });
    expect(retried.status).toBe('succeeded');
    expect(refundsAtStripe(pi)).toHaveLength(1);
  });
});

describe('disputes', () => {
  const openDispute = (pi: string, params: Params = {}) => helper<Stripe.Dispute>(`/v1/test_helpers/payment_intents/${pi}/dispute`, params);

  it('a chargeback withdraws funds at once, marks the charge disputed and refuses refunds with charge_disputed (saved)', async () => {
    const pi = await paidIntent(1000);
    await stripe.refunds.create({ payment_intent: pi, amount: 200 });
    const dispute = await openDispute(pi);
    expect(dispute).toMatchObject({ status: 'needs_response', amount: 800, is_charge_refundable: false, payment_intent: pi });
    expect(Object.keys(dispute).sort()).toEqual((objectKeys as unknown as Record<string, string[]>).dispute);
    expect(typesAbout(dispute.id)).toEqual(['charge.dispute.created', 'charge.dispute.funds_withdrawn']);
    expect(new Set(eventsAbout(dispute.id).map((e) => e.created)).size).toBe(1);
    expect((await chargeOf(pi)).disputed).toBe(true);
    expect((await stripe.disputes.retrieve(dispute.id)).balance_transactions.map((t) => t.amount)).toEqual([-800]);
    expect((await stripe.disputes.list({ payment_intent: pi })).data.map((d) => d.id)).toEqual([dispute.id]);

    const refused = await stripeError(stripe.refunds.create({ payment_intent: pi, amount: 100 }, { idempotencyKey: 'disputed' }));
    expect(refused).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(refused).toMatchObject({ statusCode: 400, code: 'charge_disputed' });
    expect((await stripeError(stripe.refunds.create({ payment_intent: pi, amount: 100 }, { idempotencyKey: 'disputed' }))).headers?.['idempotent-replayed']).toBe('true');
    expect(refundsAtStripe(pi)).toHaveLength(1);
    expect(await stripeError(openDispute(pi))).toMatchObject({ code: 'charge_disputed' });
    expect(emulator.state.disputes.size).toBeGreaterThanOrEqual(1);
    expect([...emulator.state.disputes.values()].filter((d) => d.payment_intent === pi)).toHaveLength(1);
  });

  it('under review, then won: funds reinstated and the charge refundable again', async () => {
    const pi = await paidIntent(1000);
    const dispute = await openDispute(pi);
    expect(await helper(`/v1/test_helpers/disputes/${dispute.id}/update`, { status: 'under_review' })).toMatchObject({ status: 'under_review' });
    const won = await helper<Stripe.Dispute>(`/v1/test_helpers/disputes/${dispute.id}/close`, { outcome: 'won' });
    expect(won).toMatchObject({ status: 'won', is_charge_refundable: true });
    expect(typesAbout(dispute.id)).toEqual(['charge.dispute.created', 'charge.dispute.funds_withdrawn', 'charge.dispute.updated', 'charge.dispute.closed', 'charge.dispute.funds_reinstated']);
    expect(won.balance_transactions.map((t) => t.amount)).toEqual([-1000, 1000]);
    expect(await stripeError(helper(`/v1/test_helpers/disputes/${dispute.id}/close`, { outcome: 'lost' }))).toMatchObject({ statusCode: 400 });
    expect((await stripe.refunds.create({ payment_intent: pi, amount: 100 })).status).toBe('succeeded');
    expect((await chargeOf(pi)).disputed).toBe(true);
  });

  it('lost: no funds come back, refunds stay refused; accepting through the API loses too', async () => {
    const pi = await paidIntent(1000);
    const dispute = await openDispute(pi);
    await helper(`/v1/test_helpers/disputes/${dispute.id}/close`, { outcome: 'lost' });
    expect(typesAbout(dispute.id)).toEqual(['charge.dispute.created', 'charge.dispute.funds_withdrawn', 'charge.dispute.closed']);
    expect(await stripeError(stripe.refunds.create({ payment_intent: pi }))).toMatchObject({ code: 'charge_disputed' });
    expect(refundsAtStripe(pi)).toHaveLength(0);

    const other = await paidIntent(500);
    const accepted = await stripe.disputes.close((await openDispute(other)).id);
    expect(accepted).toMatchObject({ status: 'lost', is_charge_refundable: false });
    expect(typesAbout(accepted.id).at(-1)).toBe('charge.dispute.closed');
  });

  it('an inquiry withdraws nothing, leaves the charge refundable and closes only as warning_closed', async () => {
    const pi = await paidIntent(1000);
    const inquiry = await openDispute(pi, { inquiry: 'true', amount: 400 });
    expect(inquiry).toMatchObject({ status: 'warning_needs_response', amount: 400, is_charge_refundable: true });
    expect(typesAbout(inquiry.id)).toEqual(['charge.dispute.created']);
    expect(await stripeError(helper(`/v1/test_helpers/disputes/${inquiry.id}/close`, { outcome: 'won' }))).toMatchObject({ code: 'parameter_invalid', param: 'outcome' });
    expect((await stripe.refunds.create({ payment_intent: pi, amount: 100 })).status).toBe('succeeded');
    await helper(`/v1/test_helpers/disputes/${inquiry.id}/close`, { outcome: 'warning_closed' });
    expect(typesAbout(inquiry.id)).toEqual(['charge.dispute.created', 'charge.dispute.closed']);
  });
});

describe('refunds made outside the API, pending and failed', () => {
  it('a Dashboard refund emits refund.created + charge.refunded; its failure emits refund.updated + refund.failed and gives the amount back', async () => {
    const pi = await paidIntent(1000);
    const charge = await chargeOf(pi);
    const dashboard = await stripe.refunds.create({ payment_intent: pi, amount: 400 }); // no metadata: not ours
    expect(dashboard.metadata).toEqual({});
    expect(typesAbout(dashboard.id)).toEqual(['refund.created']);
    const refundedEvents = () => eventsAbout(charge.id).filter((e) => e.type === 'charge.refunded');
    expect(refundedEvents().map((e) => (e.data as { object: Stripe.Charge }).object.amount_refunded)).toEqual([400]);
    expect(refundedEvents()[0].data).not.toHaveProperty('object.refunds'); // not expanded in events since 2022-11-15

    await helper(`/v1/test_helpers/refunds/${dashboard.id}/fail`);
    expect(typesAbout(dashboard.id)).toEqual(['refund.created', 'refund.updated', 'refund.failed']);
    expect(refundedEvents()).toHaveLength(1); // no charge.refunded for a failure
    expect(await chargeOf(pi)).toMatchObject({ amount_refunded: 0, refunded: false });
    expect((await stripe.refunds.create({ payment_intent: pi })).amount).toBe(1000); // the failed 400 is refundable again
    expect(await stripeError(helper(`/v1/test_helpers/refunds/${dashboard.id}/fail`))).toMatchObject({ statusCode: 400 });
  });

  it('a refund armed to start pending counts as refunded until it succeeds (refund.updated) or fails', async () => {
    const pi = await paidIntent(1000);
    await helper('/v1/test_helpers/refunds/next_pending', { payment_intent: pi, count: 2 });
    const settles = await stripe.refunds.create({ payment_intent: pi, amount: 300 });
    const bounces = await stripe.refunds.create({ payment_intent: pi, amount: 200 });
    const immediate = await stripe.refunds.create({ payment_intent: pi, amount: 100 });
    expect([settles.status, bounces.status, immediate.status]).toEqual(['pending', 'pending', 'succeeded']);
    expect((await chargeOf(pi)).amount_refunded).toBe(600);

    expect(await helper(`/v1/test_helpers/refunds/${settles.id}/succeed`)).toMatchObject({ status: 'succeeded' });
    expect(typesAbout(settles.id)).toEqual(['refund.created', 'refund.updated']);
    expect(await stripeError(helper(`/v1/test_helpers/refunds/${settles.id}/succeed`))).toMatchObject({ code: 'refund_not_pending' });

    await helper(`/v1/test_helpers/refunds/${bounces.id}/fail`);
    expect(typesAbout(bounces.id)).toEqual(['refund.created', 'refund.updated', 'refund.failed']);
    const charge = await chargeOf(pi);
    expect(charge.amount_refunded).toBe(400);
    expect(eventsAbout(charge.id).filter((e) => e.type === 'charge.refunded')).toHaveLength(3);
    expect((await stripe.refunds.list({ payment_intent: pi })).data.map((r) => r.status)).toEqual(['succeeded', 'failed', 'succeeded']);
  });
});

describe('the clock: same-second events', () => {
  afterEach(() => helper('/v1/test_helpers/clock', { unfreeze: 'true' }));

  it('a frozen clock stamps every object and event of several actions with the same second', async () => {
    const frozenAt = 2_000_000_000;
    expect(await helper('/v1/test_helpers/clock', { frozen_at: frozenAt })).toMatchObject({ now: frozenAt, frozen: true });
    const pi = await paidIntent(1000);
    const refund = await stripe.refunds.create({ payment_intent: pi, amount: 100 });
    await helper(`/v1/test_helpers/refunds/${refund.id}/fail`);
    const tied = await stripe.events.list({ created: frozenAt, limit: 100 });
    expect(tied.data.map((e) => e.type).sort()).toEqual(
      ['charge.refunded', 'charge.succeeded', 'checkout.session.completed', 'payment_intent.succeeded', 'refund.created', 'refund.failed', 'refund.updated'].sort(),
    );
    expect(refund.created).toBe(frozenAt);
    expect((await stripe.paymentIntents.retrieve(pi)).created).toBe(frozenAt);

    await helper('/v1/test_helpers/clock', { advance_seconds: 5 });
    const later = await stripe.refunds.create({ payment_intent: pi, amount: 100 });
    expect(later.created).toBe(frozenAt + 5);
    const after = await helper<{ now: number; frozen: boolean }>('/v1/test_helpers/clock', { unfreeze: 'true' });
    expect(after.frozen).toBe(false);
    expect(after.now).toBeGreaterThanOrEqual(frozenAt + 5); // never backwards
  });
});

describe('Payment Links opened by customers', () => {
  it('opens a session with the link, the customer-chosen client_reference_id and the link metadata, none of ours', async () => {
    const price = await stripe.prices.create({ currency: 'eur', unit_amount: 50, product_data: { name: 'Tip' } });
    const link = await stripe.paymentLinks.create({
      line_items: [{ price: price.id, quantity: 2 }], metadata: { campaign: 'spring' }, payment_intent_data: { metadata: { source: 'link' } },
    });
    expect(link).toMatchObject({ object: 'payment_link', active: true, currency: 'eur', metadata: { campaign: 'spring' } });
    expect((await stripe.paymentLinks.retrieve(link.id)).id).toBe(link.id);
    const apiCreates = emulator.state.executedCreates.get('/v1/checkout/sessions') ?? 0;

    const opened = await helper<Stripe.Checkout.Session>(`/v1/test_helpers/payment_links/${link.id}/checkout`, { client_reference_id: 'ord_someone_elses' });
    expect(opened).toMatchObject({ status: 'open', payment_link: link.id, client_reference_id: 'ord_someone_elses', metadata: { campaign: 'spring' }, amount_total: 100 });
    expect(Object.keys(opened).sort()).toEqual((objectKeys as unknown as Record<string, string[]>)['checkout.session']);
    expect(emulator.state.executedCreates.get('/v1/checkout/sessions') ?? 0).toBe(apiCreates);

    await helper(`/v1/test_helpers/checkout/sessions/${opened.id}/complete`);
    const completed = eventsAbout(opened.id).filter((e) => e.type === 'checkout.session.completed');
    expect(completed).toHaveLength(1);
    expect((completed[0].data as { object: Stripe.Checkout.Session }).object).toMatchObject({ payment_link: link.id, payment_status: 'paid' });
    const intent = await stripe.paymentIntents.retrieve((await stripe.checkout.sessions.retrieve(opened.id)).payment_intent as string);
    expect(intent).toMatchObject({ amount: 100, metadata: { source: 'link' } });
    expect(await stripeError(helper('/v1/test_helpers/payment_links/plink_nope/checkout'))).toMatchObject({ statusCode: 404, code: 'resource_missing' });
  });
});

describe('events', () => {
  it('retrieves one event by id and filters the list by type, wildcard, types[] and created', async () => {
    const pi = await paidIntent(1000, {});
    const dispute = await helper<Stripe.Dispute>(`/v1/test_helpers/payment_intents/${pi}/dispute`);
    const [created] = eventsAbout(dispute.id);
    const fetched = await stripe.events.retrieve(created.id);
    expect(fetched).toMatchObject({ id: created.id, type: 'charge.dispute.created', data: { object: { id: dispute.id } } });
    expect(await stripeError(stripe.events.retrieve('evt_nope'))).toMatchObject({ statusCode: 404, code: 'resource_missing' });

    const since = created.created as number;
    const wildcard = await stripe.events.list({ type: 'charge.dispute.*', created: { gte: since }, limit: 100 });
    expect(wildcard.data.filter((e) => (e.data.object as { id: string }).id === dispute.id).map((e) => e.type)).toEqual(['charge.dispute.funds_withdrawn', 'charge.dispute.created']);
    expect(wildcard.data.every((e) => e.type.startsWith('charge.dispute.'))).toBe(true);
    const either = await stripe.events.list({ types: ['charge.dispute.created', 'charge.succeeded'], created: { gte: since - 1 }, limit: 100 });
    expect(new Set(either.data.map((e) => e.type))).toEqual(new Set(['charge.dispute.created', 'charge.succeeded']));
    expect(either).toMatchObject({ object: 'list', url: '/v1/events', has_more: false });
  });

  it('lists with delivery_success=false the events whose webhook delivery has not succeeded', async () => {
    const pi = await paidIntent(700, { webhook: 'bounce' });
    await emulator.webhooks.idle();
    const session = (await stripe.checkout.sessions.list({ payment_intent: pi })).data[0];
    const completed = eventsAbout(session.id).find((e) => e.type === 'checkout.session.completed')!;
    const undelivered = await stripe.events.list({ delivery_success: false, limit: 100 });
    expect(undelivered.data.map((e) => e.id)).toContain(completed.id);
    expect(undelivered.data.every((e) => e.pending_webhooks === 1)).toBe(true);
    expect(emulator.webhooks.attempts.filter((a) => a.eventId === completed.id).map((a) => a.status)).toEqual([500, 500]);
    const chargeSucceeded = emulator.state.events.find((e) => e.type === 'charge.succeeded' && (e.data as { object: Stripe.Charge }).object.payment_intent === pi)!;
    expect(undelivered.data.map((e) => e.id)).not.toContain(chargeSucceeded.id);
    expect((await stripe.events.retrieve(chargeSucceeded.id)).pending_webhooks).toBe(0);
    const delivered = await stripe.events.list({ delivery_success: true, limit: 100 });
    expect(delivered.data.map((e) => e.id)).toContain(chargeSucceeded.id);
  });
});

describe('listing refunds of a payment intent', () => {
  it('pages with has_more and starting_after, as the SDK auto-pagination walks it', async () => {
    const pi = await paidIntent(1200);
    const ids = [];
    for (let i = 0; i < 11; i++) ids.push((await stripe.refunds.create({ payment_intent: pi, amount: 100 })).id);
    await stripe.refunds.create({ payment_intent: await paidIntent(100) }); // another payment's refund stays out
    const listCalls = () => emulator.state.requests.filter((r) => r.method === 'GET' && r.path === '/v1/refunds').length;
    const before = listCalls();
    const all = await stripe.refunds.list({ payment_intent: pi, limit: 3 }).autoPagingToArray({ limit: 1000 });
    expect(all.map((r) => r.id)).toEqual([...ids].reverse()); // newest first, each once
    expect(listCalls() - before).toBe(4);
    const first = await stripe.refunds.list({ payment_intent: pi, limit: 3 });
    expect(first).toMatchObject({ object: 'list', has_more: true, url: '/v1/refunds' });
    const last = await stripe.refunds.list({ payment_intent: pi, limit: 3, starting_after: all[8].id });
    expect(last.data.map((r) => r.id)).toEqual(all.slice(9).map((r) => r.id));
    expect(last.has_more).toBe(false);
    const back = await stripe.refunds.list({ payment_intent: pi, limit: 3, ending_before: all[5].id });
    expect(back.data.map((r) => r.id)).toEqual(all.slice(2, 5).map((r) => r.id));
    expect(await stripeError(stripe.refunds.list({ payment_intent: pi, starting_after: 're_nope' }))).toMatchObject({ statusCode: 404, param: 'starting_after' });
    expect(await stripeError(stripe.refunds.list({ payment_intent: pi, limit: 101 }))).toMatchObject({ statusCode: 400, param: 'limit' });
  });
});

describe('concurrent use of one key', () => {
  it('answers 409 idempotency_key_in_use (StripeAPIError: outcome unknown) while the first request executes', async () => {
    const slow = await startStripeEmulator({ executionDelayMs: 300 });
    try {
      const client = stripeClientFor(slow.url);
      const params = { currency: 'eur', unit_amount: 100, product_data: { name: 'Race' } };
      const [first, second] = await Promise.allSettled([
        client.prices.create(params, { idempotencyKey: 'race' }),
        new Promise((resolve) => setTimeout(resolve, 50)).then(() => client.prices.create(params, { idempotencyKey: 'race' })),
      ]);
      expect(first.status).toBe('fulfilled');
      const conflict = (second as PromiseRejectedResult).reason as Stripe.errors.StripeError;
      expect(conflict).toBeInstanceOf(Stripe.errors.StripeAPIError);
      expect(conflict).toMatchObject({ statusCode: 409, code: 'idempotency_key_in_use' });
      expect(slow.state.prices.size).toBe(1);
      const settled = await client.prices.create(params, { idempotencyKey: 'race' });
      expect(settled.id).toBe((first as PromiseFulfilledResult<Stripe.Price>).value.id);
      expect(slow.state.prices.size).toBe(1);
    } finally {
      await slow.close();
    }
  });
});

describe('rate limits (opt-in)', () => {
  it('answers 429 rate_limit beyond the configured requests per second, which the SDK maps to StripeRateLimitError', async () => {
    const limited = await startStripeEmulator({ rateLimitPerSecond: 10 });
    try {
      const client = stripeClientFor(limited.url);
      const outcomes = await Promise.allSettled(Array.from({ length: 40 }, () => client.events.list({ limit: 1 })));
      const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected').map((o) => o.reason as Stripe.errors.StripeError);
      expect(refused.length).toBeGreaterThan(0);
      expect(outcomes.length - refused.length).toBeGreaterThanOrEqual(10);
      refused.forEach((error) => expect(error).toMatchObject({ type: 'StripeRateLimitError', statusCode: 429, code: 'rate_limit' }));
      await new Promise((resolve) => setTimeout(resolve, 1100));
      expect((await client.events.list({ limit: 1 })).object).toBe('list');
    } finally {
      await limited.close();
    }
  });
});

describe('lists filtered by an object Stripe does not have', () => {
  it('refuses refunds of an unknown payment intent or charge with resource_missing, not an empty list', async () => {
    const byIntent = await stripeError(stripe.refunds.list({ payment_intent: 'pi_unknown_to_stripe' }));
    expect(byIntent).toMatchObject({ type: 'StripeInvalidRequestError', code: 'resource_missing' });
    const byCharge = await stripeError(stripe.refunds.list({ charge: 'ch_unknown_to_stripe' }));
    expect(byCharge).toMatchObject({ type: 'StripeInvalidRequestError', code: 'resource_missing' });
  });
});
