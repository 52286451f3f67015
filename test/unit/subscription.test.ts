import {
  applyCheckoutSnapshot, applySubscriptionSnapshot, guardClaimant, guardConflict, guardMoves, holdsGuard, subscriptionView,
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
  });

  it('follows a plan switch to another product: the record takes Stripe\'s product, price and quantity, and later changes keep applying', () => {
    const active = record({ stripeSubscriptionId: 'sub_1', status: 'active', currentPeriodEnd: 1_800_000_000 });
    const switched = applySubscriptionSnapshot(active, snapshot({ product: 'prod_2', price: 'price_2', quantity: 3 }));
    expect(switched).toMatchObject({ kind: 'applied', record: { product: 'prod_2', price: 'price_2', quantity: 3, status: 'active' }, anomalies: [] });
    const after = (switched as { record: SubscriptionRecord }).record;
    expect(applySubscriptionSnapshot(after, snapshot({ product: 'prod_2', price: 'price_2', quantity: 3 }))).toMatchObject({ kind: 'stale' });
    // The old code froze here: every later event was a product_mismatch anomaly.
    expect(applySubscriptionSnapshot(after, snapshot({ product: 'prod_2', price: 'price_2', quantity: 3, status: 'past_due', currentPeriodEnd: 1_802_592_000, cancelAtPeriodEnd: true })))
      .toMatchObject({ kind: 'applied', record: { product: 'prod_2', status: 'past_due', currentPeriodEnd: 1_802_592_000, cancelAtPeriodEnd: true } });
    // A switch back is just as ordinary.
    expect(applySubscriptionSnapshot(after, snapshot())).toMatchObject({ kind: 'applied', record: { product: 'prod_1', price: 'price_1', quantity: 1 } });
  });

  it('several items: records a multiple_items anomaly once and still applies status, period and cancellation', () => {
    const active = record({ stripeSubscriptionId: 'sub_1', status: 'active', currentPeriodEnd: 1_800_000_000 });
    const items = [{ price: 'price_9', product: 'prod_9', quantity: 1 }, { price: 'price_1', product: 'prod_1', quantity: 2 }];
    const several = snapshot({ price: 'price_9', product: 'prod_9', items, status: 'past_due', cancelAtPeriodEnd: true });
    const change = applySubscriptionSnapshot(active, several);
    // Follows the item of the record's own product, not blindly items[0].
    expect(change).toMatchObject({
      kind: 'applied', record: { product: 'prod_1', price: 'price_1', quantity: 2, status: 'past_due', cancelAtPeriodEnd: true },
      anomalies: [{ kind: 'multiple_items', detail: expect.stringContaining('price_9×1, price_1×2') }],
    });
    const [anomaly] = (change as { anomalies: { kind: string; detail: string }[] }).anomalies;
    const withAnomaly = { ...(change as { record: SubscriptionRecord }).record, anomalies: [{ ...anomaly, stripeEventId: 'evt_1', at: '2026-01-01T00:00:00.000Z' }] };
    expect(applySubscriptionSnapshot(withAnomaly, several)).toMatchObject({ kind: 'stale' });
    expect(applySubscriptionSnapshot(withAnomaly, { ...several, status: 'active' })).toMatchObject({ kind: 'applied', record: { status: 'active' }, anomalies: [] });
    // Fields already equal but the anomaly is new (an item added without other change): recorded.
    const equal = { ...active, price: 'price_1', quantity: 2, status: 'past_due' as const, cancelAtPeriodEnd: true };
    expect(applySubscriptionSnapshot(equal, several)).toMatchObject({ kind: 'anomaly', anomaly: { kind: 'multiple_items' } });
    // No item of the record's product left: Stripe's first item.
    expect(applySubscriptionSnapshot(active, snapshot({ items: [{ price: 'price_8', product: 'prod_8', quantity: 1 }, { price: 'price_9', product: 'prod_9', quantity: 1 }] })))
      .toMatchObject({ kind: 'applied', record: { product: 'prod_8', price: 'price_8' }, anomalies: [{ kind: 'multiple_items' }] });
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

describe('guards: which record keeps the (tenant, user, product) guard', () => {
  const live = (id: string, product: string, status: SubscriptionRecord['status'] = 'active', createdAt = '2026-01-01T00:00:00.000Z') =>
    record({ subscriptionId: id, product, status, stripeSubscriptionId: `sub_${id}`, createdAt });

  it('guardMoves: a plan switch leaves the old product and holds the new; an end leaves; a stale record holds its own; an ended one nothing', () => {
    expect(guardMoves(live('a', 'basic'), live('a', 'team'))).toEqual({ leave: ['basic'], hold: 'team' });
    expect(guardMoves(live('a', 'team'), live('a', 'team', 'canceled'))).toEqual({ leave: ['team'], hold: undefined });
    expect(guardMoves(live('a', 'basic'), live('a', 'team', 'canceled'))).toEqual({ leave: ['basic'], hold: undefined });
    expect(guardMoves(live('a', 'team'), live('a', 'team'))).toEqual({ leave: [], hold: 'team' });
    expect(guardMoves(live('a', 'team', 'past_due'), live('a', 'team', 'paused'))).toEqual({ leave: [], hold: 'team' });
    expect(guardMoves(live('a', 'team', 'canceled'), live('a', 'team', 'canceled'))).toEqual({ leave: [], hold: undefined });
    expect(guardMoves(record({ status: 'checkout_open' }), record({ status: 'checkout_expired' }))).toEqual({ leave: ['prod_1'], hold: undefined });
  });

  it('guardClaimant: a live record of the product before a paused one before an open checkout, oldest first; never the one leaving; none when all ended', () => {
    const records = [
      live('open', 'team', 'checkout_open', '2026-01-01T00:00:00.000Z'),
      live('paused', 'team', 'paused', '2026-01-02T00:00:00.000Z'),
      live('newer', 'team', 'active', '2026-01-04T00:00:00.000Z'),
      live('older', 'team', 'past_due', '2026-01-03T00:00:00.000Z'),
      live('other-product', 'basic', 'active', '2025-01-01T00:00:00.000Z'),
      live('ended', 'team', 'canceled', '2025-01-01T00:00:00.000Z'),
    ];
    expect(guardClaimant(records, 'team')?.subscriptionId).toBe('older');
    expect(guardClaimant(records, 'team', 'older')?.subscriptionId).toBe('newer');
    expect(guardClaimant(records.filter((r) => r.status !== 'active' && r.status !== 'past_due'), 'team')?.subscriptionId).toBe('paused');
    expect(guardClaimant([records[0]], 'team')?.subscriptionId).toBe('open');
    expect(guardClaimant([records[5]], 'team')).toBeUndefined();
    expect(guardClaimant(records, 'gold')).toBeUndefined();
  });

  it('guardConflict: ours; free when the holder ended or moved on; otherwise the anomaly the moved record gets and the holder keeps the guard', () => {
    const moved = live('moved', 'team');
    expect(guardConflict(moved, 'moved', moved)).toBe('ours');
    expect(guardConflict(moved, 'holder', live('holder', 'team', 'canceled'))).toBe('free');
    expect(guardConflict(moved, 'holder', live('holder', 'basic'))).toBe('free');
    expect(guardConflict(moved, 'holder', live('holder', 'team', 'past_due'))).toMatchObject({ kind: 'duplicate_live_subscription', detail: expect.stringContaining('holder') });
    expect(guardConflict(moved, 'holder', live('holder', 'team', 'checkout_open'))).toMatchObject({ kind: 'product_guard_held_by_checkout' });
    // The holder's checkout is still being opened (no record yet).
    expect(guardConflict(moved, 'holder', undefined)).toMatchObject({ kind: 'product_guard_held_by_checkout' });
  });
});
