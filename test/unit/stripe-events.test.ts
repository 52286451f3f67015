import { OrderNotFoundError, OrderNotReadyError, PoisonMessageError } from '../../lambdas/domain/errors';
import { recordAnomaly, type Change } from '../../lambdas/domain/ledger';
import type { Order } from '../../lambdas/domain/order';
import type { OrderLedgerStore, StripeReader } from '../../lambdas/domain/ports';
import {
  applyStripeEvent,
  checkStripeEvent,
  HANDLED_EVENT_TYPES,
  parseQueuedEvent,
  refundFactOf,
  sessionFactOf,
  type StripeEvent,
} from '../../lambdas/domain/stripe-events';
import { pendingOrder } from '../support/orders';

/**
 * An in-memory orders table with the store's contract (ports.ts): `decide` runs on the current
 * item; applied and anomaly are written with a version bump; stale writes nothing; notReady throws.
 * It counts every call, so "touched nothing" is measured, not assumed.
 */
class MemoryOrders implements OrderLedgerStore {
  readonly items = new Map<string, Order>();
  readonly calls: string[] = [];
  writes = 0;

  constructor(...orders: Order[]) {
    for (const order of orders) this.items.set(order.orderId, order);
  }

  async getOrder(orderId: string) {
    this.calls.push('getOrder');
    return this.items.get(orderId);
  }

  async findOrderIdByPaymentIntent(paymentIntentId: string) {
    this.calls.push('findOrderIdByPaymentIntent');
    return [...this.items.values()].find((order) => order.paymentIntentId === paymentIntentId)?.orderId;
  }

  async mutate(orderId: string, decide: (order: Order) => Change, stripeEventId: string | null): Promise<Change> {
    this.calls.push('mutate');
    const current = this.items.get(orderId);
    if (!current) throw new OrderNotFoundError(orderId);
    const change = decide(current);
    if (change.kind === 'notReady') throw new OrderNotReadyError(orderId, change.reason);
    if (change.kind === 'stale') return change;
    let next = change.kind === 'applied' ? change.order : current;
    if (change.anomaly) next = recordAnomaly(next, { ...change.anomaly, stripeEventId, at: '2026-11-23T00:00:00.000Z' });
    if (next === current) return change;
    this.items.set(orderId, { ...next, version: current.version + 1 });
    this.writes += 1;
    return change;
  }
}

/** Stripe's objects as the processor may look them up. */
function stripeWith(objects: { intents?: Record<string, Record<string, string>>; sessions?: Record<string, Record<string, unknown>> } = {}) {
  const lookups: string[] = [];
  const reader: StripeReader = {
    retrievePaymentIntent: async (id) => {
      lookups.push(id);
      const metadata = objects.intents?.[id];
      return metadata ? { id, metadata } : undefined;
    },
    retrieveCheckoutSession: async (id) => {
      lookups.push(id);
      return objects.sessions?.[id];
    },
    retrieveEvent: async () => undefined,
  };
  return { reader, lookups };
}

const AMOUNT = 1000;
const ourOrder = (overrides: Partial<Order> = {}) => pendingOrder({ amountTotal: AMOUNT, ...overrides });
const paidOrder = () => ourOrder({ paymentStatus: 'paid', paymentIntentId: 'pi_ours' });

const event = (type: string, object: Record<string, unknown>, id = 'evt_1'): StripeEvent => ({ id, type, created: 1_795_000_000, data: { object } });
const sessionOf = (order: Order, fields: Record<string, unknown> = {}) => ({
  id: order.checkoutSessionId,
  object: 'checkout.session',
  client_reference_id: order.orderId,
  metadata: { orderId: order.orderId, tenantId: order.tenantId },
  amount_total: order.amountTotal,
  currency: order.currency,
  payment_intent: 'pi_ours',
  status: 'complete',
  payment_status: 'paid',
  ...fields,
});
const refundObject = (fields: Record<string, unknown> = {}) => ({
  id: 're_1',
  object: 'refund',
  payment_intent: 'pi_ours',
  amount: 300,
  currency: 'eur',
  status: 'pending',
  metadata: {},
  created: 1_795_000_000,
  ...fields,
});
const disputeObject = (status: string) => ({ id: 'dp_1', object: 'dispute', payment_intent: 'pi_ours', amount: AMOUNT, currency: 'eur', status, created: 1_795_000_000 });

describe('HANDLED_EVENT_TYPES', () => {
  // What the README tells deployers to subscribe their endpoint to.
  it('is exactly the events that can change an order', () => {
    expect([...HANDLED_EVENT_TYPES].sort()).toEqual(
      [
        'checkout.session.completed',
        'checkout.session.async_payment_succeeded',
        'checkout.session.async_payment_failed',
        'checkout.session.expired',
        'refund.created',
        'refund.updated',
        'refund.failed',
        'charge.dispute.created',
        'charge.dispute.updated',
        'charge.dispute.closed',
        'charge.dispute.funds_withdrawn',
        'charge.dispute.funds_reinstated',
      ].sort(),
    );
  });

  /** For each handled type: an order, the event's object, and what the order must show afterwards. */
  const cases: Record<(typeof HANDLED_EVENT_TYPES)[number], () => { order: Order; object: Record<string, unknown>; expect: (order: Order) => void }> = {
    'checkout.session.completed': () => {
      const order = ourOrder();
      return { order, object: sessionOf(order), expect: (o) => expect(o).toMatchObject({ paymentStatus: 'paid', paymentIntentId: 'pi_ours' }) };
    },
    'checkout.session.async_payment_succeeded': () => {
      const order = ourOrder();
      return { order, object: sessionOf(order), expect: (o) => expect(o.paymentStatus).toBe('paid') };
    },
    'checkout.session.async_payment_failed': () => {
      const order = ourOrder();
      return { order, object: sessionOf(order, { payment_status: 'unpaid' }), expect: (o) => expect(o).toMatchObject({ paymentStatus: 'failed', paymentIntentId: 'pi_ours' }) };
    },
    'checkout.session.expired': () => {
      const order = ourOrder();
      return { order, object: sessionOf(order, { status: 'expired', payment_status: 'unpaid', payment_intent: null }), expect: (o) => expect(o.paymentStatus).toBe('expired') };
    },
    'refund.created': () => ({ order: paidOrder(), object: refundObject(), expect: (o) => expect(o.refunds.re_1).toMatchObject({ amount: 300, status: 'pending', refundId: null }) }),
    'refund.updated': () => ({ order: paidOrder(), object: refundObject({ status: 'succeeded' }), expect: (o) => expect(o.refunds.re_1.status).toBe('succeeded') }),
    'refund.failed': () => ({ order: paidOrder(), object: refundObject({ status: 'failed' }), expect: (o) => expect(o.refunds.re_1.status).toBe('failed') }),
    'charge.dispute.created': () => ({ order: paidOrder(), object: disputeObject('needs_response'), expect: (o) => expect(o.disputes.dp_1.status).toBe('needs_response') }),
    'charge.dispute.updated': () => ({ order: paidOrder(), object: disputeObject('under_review'), expect: (o) => expect(o.disputes.dp_1.status).toBe('under_review') }),
    'charge.dispute.closed': () => ({ order: paidOrder(), object: disputeObject('lost'), expect: (o) => expect(o.disputes.dp_1.status).toBe('lost') }),
    'charge.dispute.funds_withdrawn': () => ({ order: paidOrder(), object: disputeObject('needs_response'), expect: (o) => expect(o.disputes.dp_1.status).toBe('needs_response') }),
    'charge.dispute.funds_reinstated': () => ({ order: paidOrder(), object: disputeObject('won'), expect: (o) => expect(o.disputes.dp_1.status).toBe('won') }),
  };

  it.each(HANDLED_EVENT_TYPES)('%s changes our order with exactly one write', async (type) => {
    const { order, object, expect: check } = cases[type]();
    const orders = new MemoryOrders(order);
    const { reader } = stripeWith();
    expect(await applyStripeEvent(event(type, object), { orders, stripe: reader })).toEqual({ outcome: 'applied', orderId: order.orderId });
    expect(orders.writes).toBe(1);
    check(orders.items.get(order.orderId)!);
    // The same event again is recognised, and written nothing.
    expect((await applyStripeEvent(event(type, object), { orders, stripe: reader })).outcome).toBe('stale');
    expect(orders.writes).toBe(1);
  });

  it.each([
    'charge.refunded',
    'charge.refund.updated',
    'charge.succeeded',
    'payment_intent.succeeded',
    'customer.created',
    'invoice.paid',
    'checkout.session.created',
    'refund.voided',
    'charge.dispute.deleted',
  ])('acknowledges %s as ignored without reading or writing any order', async (type) => {
    const order = paidOrder();
    const orders = new MemoryOrders(order);
    const { reader, lookups } = stripeWith();
    const object = type.startsWith('checkout.session.') ? sessionOf(order) : type.startsWith('charge.dispute.') ? disputeObject('lost') : refundObject({ status: 'succeeded' });
    expect(await applyStripeEvent(event(type, object), { orders, stripe: reader })).toEqual({ outcome: 'ignored' });
    expect(orders.calls).toEqual([]);
    expect(lookups).toEqual([]);
  });
});

describe('applyStripeEvent on objects that are not ours', () => {
  it('acknowledges a Payment Link session naming our order as foreign: no write, the order unpaid', async () => {
    const order = ourOrder();
    const orders = new MemoryOrders(order);
    const { reader } = stripeWith();
    const linkSession = { ...sessionOf(order), id: 'cs_test_payment_link', amount_total: 100, metadata: {}, payment_intent: 'pi_link' };
    expect(await applyStripeEvent(event('checkout.session.completed', linkSession), { orders, stripe: reader })).toMatchObject({ outcome: 'foreign' });
    const stored = orders.items.get(order.orderId)!;
    expect(stored).toMatchObject({ paymentStatus: 'pending', amountTotal: AMOUNT, version: order.version });
    expect(stored.paymentIntentId).toBeUndefined();
    expect(stored.anomalies).toEqual([]);
  });

  it('records a session with our metadata that is not the order\'s own as an anomaly, never applied', async () => {
    const order = ourOrder();
    const orders = new MemoryOrders(order);
    const { reader } = stripeWith();
    const second = { ...sessionOf(order), id: 'cs_test_second_of_ours', payment_intent: 'pi_second' };
    expect(await applyStripeEvent(event('checkout.session.completed', second), { orders, stripe: reader })).toMatchObject({ outcome: 'anomaly', reason: 'session_not_the_orders' });
    const stored = orders.items.get(order.orderId)!;
    expect(stored).toMatchObject({ paymentStatus: 'pending' });
    expect(stored.anomalies).toEqual([expect.objectContaining({ kind: 'session_not_the_orders', stripeEventId: 'evt_1' })]);
  });

  it('acknowledges a session naming no order of ours as foreign, without a write', async () => {
    const orders = new MemoryOrders(ourOrder());
    const { reader } = stripeWith();
    const session = { id: 'cs_test_other', client_reference_id: 'somebody-elses-id', metadata: {}, payment_status: 'paid', amount_total: 5, currency: 'eur' };
    expect((await applyStripeEvent(event('checkout.session.completed', session), { orders, stripe: reader })).outcome).toBe('foreign');
    expect(orders.writes).toBe(0);
  });

  it.each([
    ['refund.created', refundObject({ payment_intent: 'pi_other_integration' })],
    ['charge.dispute.created', { ...disputeObject('needs_response'), payment_intent: 'pi_other_integration' }],
    ['refund.created', refundObject({ payment_intent: null })],
  ])('acknowledges %s of a payment we did not create as foreign (never retried into the DLQ)', async (type, object) => {
    const orders = new MemoryOrders(paidOrder());
    const { reader } = stripeWith();
    expect((await applyStripeEvent(event(type, object), { orders, stripe: reader })).outcome).toBe('foreign');
    expect(orders.writes).toBe(0);
  });

  it("does not take a payment intent's metadata.orderId on trust: the order's own session must have paid with it", async () => {
    const order = ourOrder();
    const orders = new MemoryOrders(order);
    // Somebody else's payment intent claims our order; our session paid with another intent.
    const { reader } = stripeWith({
      intents: { pi_claims_ours: { orderId: order.orderId, tenantId: order.tenantId } },
      sessions: { [order.checkoutSessionId]: sessionOf(order, { payment_intent: 'pi_ours' }) },
    });
    expect((await applyStripeEvent(event('refund.created', refundObject({ payment_intent: 'pi_claims_ours' })), { orders, stripe: reader })).outcome).toBe('foreign');
    expect(orders.items.get(order.orderId)!.refunds).toEqual({});
  });

  it('applies a refund that arrives before the session event, after bringing the order up to date from Stripe', async () => {
    const order = ourOrder();
    const orders = new MemoryOrders(order);
    const { reader, lookups } = stripeWith({
      intents: { pi_ours: { orderId: order.orderId, tenantId: order.tenantId } },
      sessions: { [order.checkoutSessionId]: sessionOf(order) },
    });
    expect(await applyStripeEvent(event('refund.created', refundObject()), { orders, stripe: reader })).toEqual({ outcome: 'applied', orderId: order.orderId });
    expect(lookups).toEqual(['pi_ours', order.checkoutSessionId]);
    expect(orders.items.get(order.orderId)).toMatchObject({ paymentStatus: 'paid', paymentIntentId: 'pi_ours', refunds: { re_1: { amount: 300, status: 'pending' } } });
    expect(orders.writes).toBe(2);
  });

  it('records a refund with a status we do not know as an anomaly instead of failing the message', async () => {
    const order = paidOrder();
    const orders = new MemoryOrders(order);
    const { reader } = stripeWith();
    expect(await applyStripeEvent(event('refund.updated', refundObject({ status: 'processing' })), { orders, stripe: reader })).toMatchObject({ outcome: 'anomaly', reason: 'unknown_refund_status' });
    expect(orders.items.get(order.orderId)!.refunds).toEqual({});
    expect(orders.items.get(order.orderId)!.anomalies).toEqual([expect.objectContaining({ kind: 'unknown_refund_status' })]);
  });
});

describe('refundFactOf', () => {
  it('reads our metadata.refundId and an expanded payment intent', () => {
    expect(refundFactOf(refundObject({ payment_intent: { id: 'pi_ours', object: 'payment_intent' }, metadata: { refundId: 'rfd_1', orderId: 'ord_x' }, status: 'requires_action' }))).toEqual({
      stripeRefundId: 're_1',
      paymentIntentId: 'pi_ours',
      amount: 300,
      currency: 'eur',
      status: 'requires_action',
      refundId: 'rfd_1',
      created: 1_795_000_000,
    });
    expect(refundFactOf(refundObject({ metadata: {} }))).toMatchObject({ refundId: null, paymentIntentId: 'pi_ours' });
    expect(refundFactOf(refundObject({ payment_intent: null }))).toMatchObject({ paymentIntentId: null });
  });

  it.each([['processing'], ['PENDING'], [''], [undefined], [null], [42]])('returns undefined for the unknown status %p', (status) => {
    expect(refundFactOf(refundObject({ status }))).toBeUndefined();
  });

  it('treats inherited property names (toString, constructor, __proto__) as unknown statuses, for refunds and disputes — fails while isStripeRefundStatus/isDisputeStatus use `in`', async () => {
    for (const status of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
      expect(refundFactOf(refundObject({ status }))).toBeUndefined();
      const orders = new MemoryOrders(paidOrder());
      const { reader } = stripeWith();
      expect(await applyStripeEvent(event('charge.dispute.updated', disputeObject(status)), { orders, stripe: reader })).toMatchObject({ outcome: 'anomaly', reason: 'unknown_dispute_status' });
    }
  });
});

describe('sessionFactOf', () => {
  const order = ourOrder();
  it.each([
    ['paid', 'paid', { payment_status: 'paid' }, undefined],
    ['no payment required', 'paid', { payment_status: 'no_payment_required' }, undefined],
    ['completed, async payment still unpaid', 'pending', { payment_status: 'unpaid' }, 'checkout.session.completed'],
    ['async payment failed', 'failed', { payment_status: 'unpaid' }, 'checkout.session.async_payment_failed'],
    ['expired', 'expired', { status: 'expired', payment_status: 'unpaid' }, 'checkout.session.expired'],
    ['still open (fetched)', 'pending', { status: 'open', payment_status: 'unpaid', payment_intent: null }, undefined],
  ] as const)('%s is %s', (_name, outcome, fields, type) => {
    expect(sessionFactOf(sessionOf(order, fields), type).outcome).toBe(outcome);
  });

  it('takes the tenant from metadata only, and the intent id from a string or an expanded object', () => {
    expect(sessionFactOf(sessionOf(order, { payment_intent: { id: 'pi_expanded' } }))).toEqual({
      checkoutSessionId: order.checkoutSessionId,
      tenantId: order.tenantId,
      paymentIntentId: 'pi_expanded',
      amountTotal: AMOUNT,
      currency: 'eur',
      outcome: 'paid',
    });
    expect(sessionFactOf(sessionOf(order, { metadata: {} })).tenantId).toBeNull();
    // A non-integer amount can never match an order's amount.
    expect(sessionFactOf(sessionOf(order, { amount_total: '1000' })).amountTotal).toBeNaN();
  });
});

describe('parseQueuedEvent and checkStripeEvent', () => {
  const stripeEvent = { id: 'evt_1', type: 'refund.created', created: 1, data: { object: { id: 're_1' } } };

  it('accepts a Stripe event', () => {
    expect(parseQueuedEvent(JSON.stringify(stripeEvent))).toEqual(stripeEvent);
    expect(checkStripeEvent(stripeEvent)).toBe(stripeEvent);
  });

  it('accepts the pointer the webhook enqueues for an event too large for the queue', () => {
    const pointer = { object: 'event_pointer', id: 'evt_big', type: 'checkout.session.completed', created: 1 };
    expect(parseQueuedEvent(JSON.stringify(pointer))).toEqual(pointer);
  });

  it.each([
    ['a pointer without an event id', '{"object":"event_pointer","type":"x","created":1}'],
    ['a pointer to something else than an event', '{"object":"event_pointer","id":"cs_1","type":"x","created":1}'],
    ['not JSON', 'not json'],
    ['JSON null', 'null'],
    ['an empty object', '{}'],
    ['an id that is not an event id', '{"id":"x","type":"t","created":1,"data":{"object":{}}}'],
    ['created as a string', '{"id":"evt_1","type":"t","created":"1","data":{"object":{}}}'],
    ['no data.object', '{"id":"evt_1","type":"t","created":1,"data":{}}'],
    ['data.object null', '{"id":"evt_1","type":"t","created":1,"data":{"object":null}}'],
  ])('refuses %s as a poison message', (_name, body) => {
    expect(() => parseQueuedEvent(body)).toThrow(PoisonMessageError);
  });

  it('checkStripeEvent refuses a fetched object that is not an event', () => {
    expect(() => checkStripeEvent({ id: 'evt_1', type: 't', created: 1 })).toThrow(PoisonMessageError);
    expect(() => checkStripeEvent(undefined)).toThrow(PoisonMessageError);
  });
});
