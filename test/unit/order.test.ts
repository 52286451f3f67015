import { orderStatus, orderView } from '../../lambdas/domain/order';
import { pendingOrder } from '../support/orders';

describe('orderStatus', () => {
  it.each([
    ['pending', 0, 'pending'],
    ['expired', 0, 'expired'],
    ['failed', 0, 'failed'],
    ['paid', 0, 'paid'],
    ['paid', 1, 'partially_refunded'],
    ['paid', 999, 'partially_refunded'],
    ['paid', 1000, 'refunded'],
  ] as const)('%s with %i of 1000 refunded is %s', (paymentStatus, amountRefunded, expected) => {
    expect(orderStatus({ paymentStatus, amountRefunded, amountTotal: 1000 })).toBe(expected);
  });
});

describe('orderView', () => {
  it('shows the public fields only, refunds oldest first, paymentIntentId null until known', () => {
    const order = pendingOrder({
      refunds: {
        b: { refundId: 'b', amount: 2, reason: null, status: 'succeeded', stripeRefundId: 're_b', stripeIdempotencyKey: 'k', createdAt: '2026-01-02T00:00:00Z', updatedAt: '2026-01-02T00:00:00Z' },
        a: { refundId: 'a', amount: 1, reason: null, status: 'pending', stripeRefundId: 're_a', stripeIdempotencyKey: 'k', createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z' },
      },
    });
    const view = orderView(order);
    expect(view.paymentIntentId).toBeNull();
    expect(view.refunds.map((r) => r.refundId)).toEqual(['a', 'b']);
    expect(Object.keys(view)).not.toEqual(expect.arrayContaining(['tenantId']));
    expect(JSON.stringify(view)).not.toMatch(/stripeIdempotencyKey|amountRefundable|tenantId|userId/);
  });
});
