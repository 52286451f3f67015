import {
  applyDisputeFact,
  applyRefundFact,
  markRefundAttempt,
  orderStatus,
  orderTotals,
  orderView,
  refundRequestView,
  releaseReservation,
  reserveRefund,
  type Change,
  type RefundFact,
} from '../../lambdas/domain/ledger';
import type { DisputeStatus, Order } from '../../lambdas/domain/order';
import { pendingOrder } from '../support/orders';

/** The reservation rules: how our own refund requests hold, release and settle the refundable balance. */
const AT = '2026-11-23T12:00:00.000Z';
const LATER = '2026-11-23T12:05:00.000Z';
const INTENT = 'pi_paid';

const paidOrder = (overrides: Partial<Order> = {}) => pendingOrder({ paymentStatus: 'paid', paymentIntentId: INTENT, amountTotal: 1000, ...overrides });

const request = (refundId: string, amount: number | undefined) => ({
  refundId,
  amount,
  reason: null,
  stripeIdempotencyKey: `refund-${refundId}`,
  requestFingerprint: `fp-${refundId}`,
  createdAt: AT,
  updatedAt: AT,
});

function reserved(order: Order, refundId: string, amount: number | undefined): Order {
  const outcome = reserveRefund(order, request(refundId, amount));
  if (outcome.kind !== 'reserved') throw new Error(`expected a reservation, got ${outcome.kind}`);
  return outcome.order;
}

function appliedOrder(change: Change): Order {
  if (change.kind !== 'applied') throw new Error(`expected applied, got ${change.kind}`);
  return change.order;
}

const stripeRefund = (stripeRefundId: string, amount: number, refundId: string | null, status: RefundFact['status'] = 'succeeded'): RefundFact => ({
  stripeRefundId,
  paymentIntentId: INTENT,
  amount,
  currency: 'eur',
  status,
  refundId,
  created: 1_795_000_000,
});

const withDispute = (order: Order, status: DisputeStatus, amount = 1000) =>
  appliedOrder(applyDisputeFact(order, { disputeId: 'dp_1', paymentIntentId: INTENT, amount, currency: 'eur', status, created: 1_795_000_000 }));

describe('reserveRefund', () => {
  it.each(['needs_response', 'under_review'] as const)('refuses while a dispute is %s', (status) => {
    const order = withDispute(paidOrder(), status);
    expect(reserveRefund(order, request('rfd_1', 100))).toEqual({ kind: 'disputeOpen' });
    expect(reserveRefund(order, request('rfd_1', undefined))).toEqual({ kind: 'disputeOpen' });
  });

  it('accepts again once the dispute is won; a lost dispute leaves nothing refundable', () => {
    const won = withDispute(withDispute(paidOrder(), 'needs_response'), 'won');
    expect(reserveRefund(won, request('rfd_1', 1000)).kind).toBe('reserved');
    const lost = withDispute(withDispute(paidOrder(), 'needs_response'), 'lost');
    expect(orderTotals(lost).amountRefundable).toBe(0);
    expect(reserveRefund(lost, request('rfd_1', 1))).toMatchObject({ kind: 'notRefundable' });
    const partlyLost = withDispute(paidOrder(), 'lost', 300);
    expect(reserveRefund(partlyLost, request('rfd_1', 701))).toEqual({ kind: 'exceedsBalance', refundable: 700 });
    expect(reserveRefund(partlyLost, request('rfd_1', 700)).kind).toBe('reserved');
  });

  it('refuses an unpaid order', () => {
    for (const paymentStatus of ['pending', 'expired', 'failed'] as const) {
      expect(reserveRefund(pendingOrder({ paymentStatus, amountTotal: 1000 }), request('rfd_1', 100))).toEqual({ kind: 'notRefundable', status: paymentStatus });
    }
  });

  it('refuses more than the refundable balance, counting outstanding reservations and Stripe refunds made elsewhere', () => {
    let order = paidOrder();
    expect(reserveRefund(order, request('rfd_1', 1001))).toEqual({ kind: 'exceedsBalance', refundable: 1000 });
    order = reserved(order, 'rfd_1', 600);
    expect(reserveRefund(order, request('rfd_2', 401))).toEqual({ kind: 'exceedsBalance', refundable: 400 });
    order = appliedOrder(applyRefundFact(order, stripeRefund('re_dashboard', 300, null)));
    expect(reserveRefund(order, request('rfd_2', 101))).toEqual({ kind: 'exceedsBalance', refundable: 100 });
    order = reserved(order, 'rfd_2', 100);
    expect(orderTotals(order)).toMatchObject({ amountRefunded: 300, amountRefundPending: 700, amountRefundable: 0 });
    expect(reserveRefund(order, request('rfd_3', 1))).toMatchObject({ kind: 'notRefundable' });
  });

  it('without an amount holds the whole refundable balance, and a hold is not shown as refunded', () => {
    const order = reserved(appliedOrder(applyRefundFact(paidOrder(), stripeRefund('re_dashboard', 250, null))), 'rfd_1', undefined);
    expect(order.reservations.rfd_1).toMatchObject({ amount: 750, stripeRefundId: null, releasedAt: null, attempts: 0 });
    expect(orderView(order)).toMatchObject({ status: 'partially_refunded', amountRefunded: 250, amountRefundPending: 750, amountRefundable: 0 });
  });
});

describe('releaseReservation and markRefundAttempt', () => {
  it('a released reservation frees the balance; releasing again is stale', () => {
    const order = reserved(paidOrder(), 'rfd_1', 600);
    const released = appliedOrder(releaseReservation(order, 'rfd_1', 'stripe_refused', LATER));
    expect(released.reservations.rfd_1).toMatchObject({ releasedAt: LATER, releaseReason: 'stripe_refused' });
    expect(orderTotals(released)).toMatchObject({ amountRefundPending: 0, amountRefundable: 1000 });
    expect(orderStatus(released)).toBe('paid');
    expect(releaseReservation(released, 'rfd_1', 'again', LATER).kind).toBe('stale');
    expect(releaseReservation(released, 'rfd_unknown', 'again', LATER).kind).toBe('stale');
    expect(reserveRefund(released, request('rfd_2', 1000)).kind).toBe('reserved');
  });

  it('counts attempts on an outstanding reservation only', () => {
    let order = reserved(paidOrder(), 'rfd_1', 100);
    order = appliedOrder(markRefundAttempt(order, 'rfd_1', AT));
    order = appliedOrder(markRefundAttempt(order, 'rfd_1', LATER));
    expect(order.reservations.rfd_1).toMatchObject({ attempts: 2, lastAttemptAt: LATER });
    const settled = appliedOrder(applyRefundFact(order, stripeRefund('re_1', 100, 'rfd_1')));
    expect(markRefundAttempt(settled, 'rfd_1', LATER).kind).toBe('stale');
    expect(markRefundAttempt(appliedOrder(releaseReservation(order, 'rfd_1', 'x', LATER)), 'rfd_1', LATER).kind).toBe('stale');
  });
});

describe('a Stripe refund carrying our metadata.refundId', () => {
  it('settles the reservation: counted once, as refunded, no longer as pending', () => {
    const order = appliedOrder(applyRefundFact(reserved(paidOrder(), 'rfd_1', 300), stripeRefund('re_1', 300, 'rfd_1', 'pending')));
    expect(order.reservations.rfd_1).toMatchObject({ stripeRefundId: 're_1', releasedAt: null });
    expect(orderTotals(order)).toMatchObject({ amountRefunded: 300, amountRefundPending: 0, amountRefundable: 700 });
    const view = orderView(order);
    expect(view.refunds).toEqual([expect.objectContaining({ refundId: 'rfd_1', stripeRefundId: 're_1', status: 'pending', source: 'api', amount: 300 })]);
    expect(refundRequestView(order, order.reservations.rfd_1)).toMatchObject({ status: 'pending', stripeRefundId: 're_1' });
    // The same refund reported again (webhook after the create answer) changes nothing.
    expect(applyRefundFact(order, stripeRefund('re_1', 300, 'rfd_1', 'pending')).kind).toBe('stale');
  });

  it('counts again when it settles a reservation we had released (Stripe made it after all)', () => {
    const released = appliedOrder(releaseReservation(reserved(paidOrder(), 'rfd_1', 300), 'rfd_1', 'not_found_at_stripe', LATER));
    expect(orderTotals(released).amountRefundable).toBe(1000);
    const order = appliedOrder(applyRefundFact(released, stripeRefund('re_late', 300, 'rfd_1')));
    expect(order.reservations.rfd_1).toMatchObject({ stripeRefundId: 're_late', releasedAt: null, releaseReason: null });
    expect(orderTotals(order)).toMatchObject({ amountRefunded: 300, amountRefundPending: 0, amountRefundable: 700 });
    expect(refundRequestView(order, order.reservations.rfd_1).status).toBe('succeeded');
  });

  it('two Stripe refunds for one reservation are both counted and flagged duplicate_refund_for_request, in either order', () => {
    const order = reserved(paidOrder(), 'rfd_1', 300);
    for (const [first, second] of [
      ['re_a', 're_b'],
      ['re_b', 're_a'],
    ]) {
      const once = applyRefundFact(order, stripeRefund(first, 300, 'rfd_1'));
      expect(once).toMatchObject({ kind: 'applied' });
      expect((once as { anomaly?: unknown }).anomaly).toBeUndefined();
      const twice = applyRefundFact(appliedOrder(once), stripeRefund(second, 300, 'rfd_1'));
      expect(twice).toMatchObject({ kind: 'applied', anomaly: { kind: 'duplicate_refund_for_request' } });
      const both = appliedOrder(twice);
      expect(orderTotals(both)).toMatchObject({ amountRefunded: 600, amountRefundPending: 0, amountRefundable: 400 });
      expect(orderView(both).refunds.map((r) => [r.stripeRefundId, r.refundId]).sort()).toEqual([
        ['re_a', 'rfd_1'],
        ['re_b', 'rfd_1'],
      ]);
    }
  });

  it('a failed refund frees the balance it took; the request stays settled (no second reservation needed to see it)', () => {
    let order = appliedOrder(applyRefundFact(reserved(paidOrder(), 'rfd_1', 300), stripeRefund('re_1', 300, 'rfd_1', 'succeeded')));
    order = appliedOrder(applyRefundFact(order, stripeRefund('re_1', 300, 'rfd_1', 'failed')));
    expect(orderTotals(order)).toMatchObject({ amountRefunded: 0, amountRefundPending: 0, amountRefundable: 1000 });
    expect(orderStatus(order)).toBe('paid');
    expect(refundRequestView(order, order.reservations.rfd_1).status).toBe('failed');
    // Stripe never moves a failed refund back; a late `succeeded` snapshot is stale.
    expect(applyRefundFact(order, stripeRefund('re_1', 300, 'rfd_1', 'succeeded')).kind).toBe('stale');
  });

  it('a refund whose amount differs from the reservation is counted at Stripe’s amount and flagged', () => {
    const change = applyRefundFact(reserved(paidOrder(), 'rfd_1', 300), stripeRefund('re_1', 250, 'rfd_1'));
    expect(change).toMatchObject({ kind: 'applied', anomaly: { kind: 'refund_amount_mismatch' } });
    expect(orderTotals(appliedOrder(change))).toMatchObject({ amountRefunded: 250, amountRefundPending: 0, amountRefundable: 750 });
  });
});
