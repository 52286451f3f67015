import { journaledCall, orderTimeline, stripeObjectIdsOf, type Journal, type JournalEntry, type StripeCallRecord } from '../../lambdas/domain/journal';
import { PaymentRejectedError } from '../../lambdas/domain/errors';
import type { StripeEvent } from '../../lambdas/domain/stripe-events';
import { pendingOrder } from '../support/orders';

const at = (s: string) => `2026-11-23T10:00:${s}Z`;
const seconds = (s: string) => Date.parse(at(s)) / 1000;
const event = (id: string, type: string, created: string, receivedAt: string | null, outcome = 'applied'): JournalEntry => ({
  kind: 'stripe_event', stripeEventId: id, type, created: seconds(created), apiVersion: null, objectIds: {}, orderId: 'ord', receivedAt: receivedAt && at(receivedAt),
  processedAt: at('59.000'), firstProcessedAt: at('59.000'), outcome: outcome as 'applied', reason: null, error: null, attempts: 1, replays: 0,
});
const call = (operation: StripeCallRecord['operation'], when: string): JournalEntry => ({
  kind: 'stripe_call', operation, orderId: 'ord', tenantId: 'acme', ourId: 'x', stripeIdempotencyKey: 'k', stripeObjectId: 'obj', outcome: 'succeeded', error: null, at: at(when), firstAt: at(when), attempts: 1,
});

describe('orderTimeline', () => {
  it('orders requests, calls and events; within one second an event stands where we received it', () => {
    const order = pendingOrder({ createdAt: at('01.300') });
    order.reservations.r1 = { refundId: 'r1', amount: 300, reason: null, stripeIdempotencyKey: 'k', requestFingerprint: 'f', stripeRefundId: 're_1', releasedAt: null, releaseReason: null, lastAttemptAt: at('01.700'), attempts: 1, createdAt: at('01.650'), updatedAt: at('01.700') };
    const steps = orderTimeline(order, [
      event('evt_refund', 'refund.created', '01', '01.900'),
      call('create_refund', '01.700'),
      event('evt_paid', 'checkout.session.completed', '01', '01.500'),
      call('create_checkout_session', '01.100'),
      event('evt_late', 'charge.dispute.created', '00', '30.000'), // backfilled: stays at its own second
    ]);
    expect(steps.map((s) => `${s.kind}:${s.what}`)).toEqual([
      'stripe_event:charge.dispute.created',
      'request:checkout accepted',
      'stripe_call:create checkout session',
      'stripe_event:checkout.session.completed',
      'request:refund requested',
      'stripe_call:create refund',
      'stripe_event:refund.created',
    ]);
    expect(steps[1].at).toBe(at('01.100')); // accepted no later than its first Stripe call
  });

  it('an event received after its second (or never stamped) goes after our calls of that second', () => {
    const order = pendingOrder({ createdAt: at('05.000') });
    const steps = orderTimeline(order, [event('evt_a', 'refund.created', '05', null), call('create_refund', '05.990')]);
    expect(steps.map((s) => s.kind)).toEqual(['request', 'stripe_call', 'stripe_event']);
  });
});

describe('journaledCall', () => {
  const recorded: StripeCallRecord[] = [];
  const journal: Journal = { recordEvent: async () => undefined, recordStripeCall: async (r) => void recorded.push(r) };
  const base = { operation: 'create_refund' as const, orderId: 'o', tenantId: 't', ourId: 'r', stripeIdempotencyKey: 'k', at: at('00.000') };
  beforeEach(() => recorded.splice(0));

  it('passes the result through and records the Stripe id', async () => {
    await expect(journaledCall(journal, base, async () => ({ id: 're_1' }), (r) => r.id)).resolves.toEqual({ id: 're_1' });
    expect(recorded).toEqual([{ ...base, stripeObjectId: 're_1', outcome: 'succeeded', error: null }]);
  });

  it('rethrows the same error, recorded as rejected or unknown', async () => {
    const refusal = new PaymentRejectedError('no', 'charge_disputed');
    await expect(journaledCall(journal, base, async () => { throw refusal; }, () => null)).rejects.toBe(refusal);
    const timeout = new Error('socket hang up');
    await expect(journaledCall(journal, base, async () => { throw timeout; }, () => null)).rejects.toBe(timeout);
    expect(recorded.map((r) => r.outcome)).toEqual(['rejected', 'unknown']);
  });
});

it('names the Stripe ids an event is about', () => {
  const e = { id: 'evt_1', type: 'refund.created', created: 1, data: { object: { object: 'refund', id: 're_1', payment_intent: 'pi_1', charge: { id: 'ch_1' } } } } as StripeEvent;
  expect(stripeObjectIdsOf(e)).toEqual({ refund: 're_1', payment_intent: 'pi_1', charge: 'ch_1' });
});
