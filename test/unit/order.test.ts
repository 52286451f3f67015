import { orderStatus, orderTotals, orderView, withRecoveryDue } from '../../lambdas/domain/ledger';
import type { LedgerRefund, Order, OrderDispute, RefundReservation, StripeRefundStatus } from '../../lambdas/domain/order';
import { pendingOrder } from '../support/orders';

const refund = (stripeRefundId: string, amount: number, status: StripeRefundStatus, refundId: string | null = null, created = 1_795_000_000): LedgerRefund => ({
  stripeRefundId,
  amount,
  status,
  refundId,
  created,
});

const reservation = (refundId: string, amount: number, state: Partial<RefundReservation> = {}): RefundReservation => ({
  refundId,
  amount,
  reason: null,
  stripeIdempotencyKey: `refund-key-${refundId}`,
  requestFingerprint: `fp-${refundId}`,
  stripeRefundId: null,
  releasedAt: null,
  releaseReason: null,
  lastAttemptAt: null,
  attempts: 0,
  createdAt: '2026-11-23T10:00:00.000Z',
  updatedAt: '2026-11-23T10:00:00.000Z',
  ...state,
});

const byId = <T>(key: keyof T, items: T[]) => Object.fromEntries(items.map((item) => [item[key], item]));
const ledger = (...refunds: LedgerRefund[]) => byId<LedgerRefund>('stripeRefundId', refunds);

describe('orderStatus', () => {
  it.each<[string, string, Partial<Order>]>([
    ['pending, whatever the ledger says', 'pending', { paymentStatus: 'pending', refunds: ledger(refund('re_1', 1000, 'succeeded')) }],
    ['expired', 'expired', { paymentStatus: 'expired' }],
    ['failed', 'failed', { paymentStatus: 'failed' }],
    ['paid, nothing refunded', 'paid', { paymentStatus: 'paid' }],
    ['paid, 1 pending at Stripe', 'partially_refunded', { paymentStatus: 'paid', refunds: ledger(refund('re_1', 1, 'pending')) }],
    ['paid, 999 requires_action', 'partially_refunded', { paymentStatus: 'paid', refunds: ledger(refund('re_1', 999, 'requires_action')) }],
    ['paid, 600 succeeded + 400 pending', 'refunded', { paymentStatus: 'paid', refunds: ledger(refund('re_1', 600, 'succeeded'), refund('re_2', 400, 'pending')) }],
    ['paid, 1000 failed and 1000 canceled', 'paid', { paymentStatus: 'paid', refunds: ledger(refund('re_1', 1000, 'failed'), refund('re_2', 1000, 'canceled')) }],
    ['paid, 1000 only reserved (outcome unknown)', 'paid', { paymentStatus: 'paid', reservations: { rfd_1: reservation('rfd_1', 1000) } }],
  ])('%s is %s', (_name, expected, state) => {
    expect(orderStatus(pendingOrder({ amountTotal: 1000, ...state }))).toBe(expected);
  });
});

describe('orderTotals', () => {
  it('counts pending and succeeded refunds, holds only outstanding reservations, and subtracts lost disputes', () => {
    const order = pendingOrder({
      paymentStatus: 'paid',
      amountTotal: 1000,
      refunds: ledger(refund('re_ok', 100, 'succeeded', 'rfd_settled'), refund('re_wait', 50, 'pending'), refund('re_failed', 200, 'failed')),
      reservations: byId<RefundReservation>('refundId', [
        reservation('rfd_open', 70),
        reservation('rfd_settled', 100, { stripeRefundId: 're_ok' }),
        reservation('rfd_released', 400, { releasedAt: '2026-11-23T10:01:00.000Z', releaseReason: 'stripe_refused' }),
      ]),
      disputes: byId<OrderDispute>('disputeId', [{ disputeId: 'dp_1', amount: 300, status: 'lost', created: 1 }]),
    });
    expect(orderTotals(order)).toEqual({ amountRefunded: 150, amountRefundPending: 70, amountDisputeLost: 300, amountRefundable: 480, disputeOpen: false });
  });

  it('never shows a negative balance, and nothing is refundable before payment', () => {
    expect(orderTotals(pendingOrder({ paymentStatus: 'paid', amountTotal: 100, disputes: { dp: { disputeId: 'dp', amount: 100, status: 'lost', created: 1 } }, refunds: ledger(refund('re_1', 100, 'succeeded')) })).amountRefundable).toBe(0);
    expect(orderTotals(pendingOrder({ amountTotal: 100 })).amountRefundable).toBe(0);
  });
});

describe('orderView', () => {
  const order = pendingOrder({
    paymentStatus: 'paid',
    amountTotal: 1000,
    paymentIntentId: 'pi_1',
    refunds: ledger(refund('re_late', 200, 'succeeded', 'rfd_b', 1_795_000_100), refund('re_early', 100, 'failed', null, 1_795_000_000)),
    reservations: byId<RefundReservation>('refundId', [
      reservation('rfd_b', 200, { stripeRefundId: 're_late' }),
      reservation('rfd_open', 50, { createdAt: '2026-11-23T10:00:00.000Z', lastAttemptAt: '2026-11-23T10:00:01.000Z', attempts: 1 }),
      reservation('rfd_gone', 300, { releasedAt: '2026-11-23T10:02:00.000Z', releaseReason: 'not_found_at_stripe' }),
    ]),
    disputes: byId<OrderDispute>('disputeId', [
      { disputeId: 'dp_open', amount: 10, status: 'under_review', created: 1 },
      { disputeId: 'dp_lost', amount: 20, status: 'lost', created: 2 },
      { disputeId: 'dp_inquiry', amount: 30, status: 'warning_closed', created: 3 },
    ]),
    anomalies: [{ kind: 'session_not_the_orders', stripeEventId: 'evt_1', detail: 'x', at: '2026-11-23T10:00:00.000Z' }],
    recoveryDue: 'ord_x',
  });

  it('lists every Stripe refund and each outstanding reservation (as "reserved"), oldest first; settled or released reservations are not listed', () => {
    const view = orderView(order);
    expect(view.refunds).toEqual([
      { refundId: null, stripeRefundId: 're_early', amount: 100, currency: 'eur', status: 'failed', source: 'outside', created: new Date(1_795_000_000_000).toISOString() },
      { refundId: 'rfd_b', stripeRefundId: 're_late', amount: 200, currency: 'eur', status: 'succeeded', source: 'api', created: new Date(1_795_000_100_000).toISOString() },
      { refundId: 'rfd_open', stripeRefundId: null, amount: 50, currency: 'eur', status: 'reserved', source: 'api', created: '2026-11-23T10:00:00.000Z' },
    ]);
    expect(view).toMatchObject({ status: 'partially_refunded', amountRefunded: 200, amountRefundPending: 50, amountRefundable: 1000 - 200 - 50 - 20, paymentIntentId: 'pi_1' });
  });

  it('shows each dispute with its outcome', () => {
    expect(orderView(order)).toMatchObject({
      disputed: true,
      disputes: expect.arrayContaining([
        { disputeId: 'dp_open', amount: 10, status: 'under_review', outcome: 'open' },
        { disputeId: 'dp_lost', amount: 20, status: 'lost', outcome: 'lost' },
        { disputeId: 'dp_inquiry', amount: 30, status: 'warning_closed', outcome: 'won' },
      ]),
    });
    expect(orderView(pendingOrder()).disputed).toBe(false);
  });

  it('shows the public fields only: no tenant, user, keys, fingerprints, anomalies or bookkeeping', () => {
    const view = orderView(order);
    expect(Object.keys(view).sort()).toEqual(
      [
        'orderId',
        'status',
        'currency',
        'amountTotal',
        'amountRefunded',
        'amountRefundPending',
        'amountRefundable',
        'checkoutSessionId',
        'paymentIntentId',
        'disputed',
        'disputes',
        'refunds',
        'createdAt',
        'updatedAt',
      ].sort(),
    );
    expect(JSON.stringify(view)).not.toMatch(/acme|alice|refund-key|fp-|stripeIdempotencyKey|requestFingerprint|foreign_session|recoveryDue|rfd_gone|attempts/);
  });

  it('shows paymentIntentId null until the order knows it', () => {
    expect(orderView(pendingOrder()).paymentIntentId).toBeNull();
  });
});

describe('withRecoveryDue', () => {
  it('marks an unpaid order and one with an outstanding reservation, and clears the mark otherwise', () => {
    const pending = pendingOrder();
    expect(withRecoveryDue(pending).recoveryDue).toBe(pending.orderId);
    const paid = pendingOrder({ paymentStatus: 'paid', recoveryDue: 'stale' });
    expect(withRecoveryDue(paid)).not.toHaveProperty('recoveryDue');
    const holding = { ...paid, reservations: { rfd_1: reservation('rfd_1', 10) } };
    expect(withRecoveryDue(holding).recoveryDue).toBe(paid.orderId);
    const settled = { ...paid, reservations: { rfd_1: reservation('rfd_1', 10, { stripeRefundId: 're_1' }) } };
    expect(withRecoveryDue(settled)).not.toHaveProperty('recoveryDue');
    for (const paymentStatus of ['expired', 'failed'] as const) expect(withRecoveryDue(pendingOrder({ paymentStatus }))).not.toHaveProperty('recoveryDue');
  });
});
