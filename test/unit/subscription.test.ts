import {
  applyCheckoutSnapshot, applySubscriptionSnapshot, holdsGuard, subscriptionView,
  type SubscriptionRecord, type SubscriptionSnapshot,
} from '../../lambdas/domain/subscription';

const record = (overrides: Partial<SubscriptionRecord> = {}): SubscriptionRecord => ({
  subscriptionId: 'sbr_1', tenantId: 'acme', userId: 'alice', product: 'prod_1', price: 'price_1', quantity: 1,
  status: 'checkout_open', stripeCustomerId: 'cus_ours', checkoutSessionId: 'cs_test_1', checkoutUrl: 'https://pay',
  stripeSubscriptionId: null, currentPeriodEnd: null, cancelAtPeriodEnd: false, requestFingerprint: 'f', anomalies: [],
  createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z', version: 1, ...overrides,
});
const snapshot = (overrides: Partial<SubscriptionSnapshot> = {}): SubscriptionSnapshot => ({
  id: 'sub_1', customerId: 'cus_ours', status: 'active', price: 'price_1', product: 'prod_1', quantity: 1,
  currentPeriodEnd: 1_800_000_000, cancelAtPeriodEnd: false, ...overrides,
});

describe('applySubscriptionSnapshot', () => {
  it('takes Stripe\'s state for our customer\'s subscription, and is stale when nothing changed', () => {
    const change = applySubscriptionSnapshot(record(), snapshot());
    expect(change).toMatchObject({ kind: 'applied', record: { stripeSubscriptionId: 'sub_1', status: 'active', currentPeriodEnd: 1_800_000_000 } });
    const applied = (change as { record: SubscriptionRecord }).record;
    expect(applySubscriptionSnapshot(applied, snapshot())).toMatchObject({ kind: 'stale' });
    // Fetch-latest: a later snapshot may go "down" (past_due) and back; each one is Stripe's truth.
    expect(applySubscriptionSnapshot(applied, snapshot({ status: 'past_due' }))).toMatchObject({ kind: 'applied', record: { status: 'past_due' } });
    expect(applySubscriptionSnapshot(applied, snapshot({ cancelAtPeriodEnd: true }))).toMatchObject({ kind: 'applied', record: { cancelAtPeriodEnd: true, status: 'active' } });
  });

  it('refuses another customer\'s subscription and records a second subscription as an anomaly, never merging', () => {
    expect(applySubscriptionSnapshot(record(), snapshot({ customerId: 'cus_other' }))).toMatchObject({ kind: 'foreign' });
    expect(applySubscriptionSnapshot(record({ stripeSubscriptionId: 'sub_1', status: 'active' }), snapshot({ id: 'sub_2' })))
      .toMatchObject({ kind: 'anomaly', anomaly: { kind: 'second_subscription' } });
    expect(applySubscriptionSnapshot(record(), snapshot({ product: 'prod_2' }))).toMatchObject({ kind: 'anomaly', anomaly: { kind: 'product_mismatch' } });
  });
});

describe('applyCheckoutSnapshot', () => {
  it('expires only an open checkout, and learns the subscription of a completed one', () => {
    expect(applyCheckoutSnapshot(record(), { id: 'cs_test_1', status: 'expired', customerId: 'cus_ours', subscriptionId: null }))
      .toMatchObject({ kind: 'applied', record: { status: 'checkout_expired', checkoutUrl: null } });
    expect(applyCheckoutSnapshot(record({ status: 'active', stripeSubscriptionId: 'sub_1' }), { id: 'cs_test_1', status: 'expired', customerId: null, subscriptionId: null }))
      .toMatchObject({ kind: 'stale' });
    expect(applyCheckoutSnapshot(record(), { id: 'cs_test_1', status: 'complete', customerId: 'cus_ours', subscriptionId: 'sub_1' }))
      .toMatchObject({ kind: 'applied', record: { status: 'incomplete', stripeSubscriptionId: 'sub_1' } });
    // An older `completed` after the subscription is known changes nothing, even after the active snapshot.
    expect(applyCheckoutSnapshot(record({ status: 'active', stripeSubscriptionId: 'sub_1' }), { id: 'cs_test_1', status: 'complete', customerId: 'cus_ours', subscriptionId: 'sub_1' }))
      .toMatchObject({ kind: 'stale' });
    expect(applyCheckoutSnapshot(record(), { id: 'cs_test_other', status: 'complete', customerId: 'cus_ours', subscriptionId: 'sub_9' })).toMatchObject({ kind: 'foreign' });
    expect(applyCheckoutSnapshot(record(), { id: 'cs_test_1', status: 'complete', customerId: 'cus_other', subscriptionId: 'sub_9' }))
      .toMatchObject({ kind: 'anomaly', anomaly: { kind: 'checkout_customer_mismatch' } });
  });
});

it('the guard is held while a checkout is open or a subscription can still bill, released otherwise', () => {
  expect(['checkout_open', 'incomplete', 'active', 'trialing', 'past_due', 'unpaid', 'paused'].every((s) => holdsGuard(s as never))).toBe(true);
  expect(['checkout_expired', 'canceled', 'incomplete_expired'].some((s) => holdsGuard(s as never))).toBe(false);
  expect(subscriptionView(record({ currentPeriodEnd: 1_800_000_000 })).currentPeriodEnd).toBe('2027-01-15T08:00:00.000Z');
});
