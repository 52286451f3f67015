import { derivedId, stripeIdempotencyKey } from '../../lambdas/domain/idempotency-scope';

const scope = { tenantId: 'acme', userId: 'alice', key: '8e03978e-40d5-43e8-bc93-6894a57f9324' };

describe('keys derived from an idempotency scope', () => {
  it('are deterministic, so a retry after a crash sends Stripe the same key', () => {
    expect(stripeIdempotencyKey('checkout', scope)).toBe(stripeIdempotencyKey('checkout', { ...scope }));
    expect(derivedId('refund', scope)).toBe(derivedId('refund', { ...scope }));
  });

  it('differ per operation, tenant, user and key', () => {
    const keys = new Set([
      stripeIdempotencyKey('checkout', scope),
      stripeIdempotencyKey('refund', scope),
      stripeIdempotencyKey('checkout', { ...scope, tenantId: 'globex' }),
      stripeIdempotencyKey('checkout', { ...scope, userId: 'bob' }),
      stripeIdempotencyKey('checkout', { ...scope, key: '8e03978e-40d5-43e8-bc93-6894a57f9325' }),
      // Concatenation must not collide: ("ab", "c") and ("a", "bc").
      stripeIdempotencyKey('checkout', { ...scope, tenantId: 'ab', userId: 'c' }),
      stripeIdempotencyKey('checkout', { ...scope, tenantId: 'a', userId: 'bc' }),
    ]);
    expect(keys.size).toBe(7);
  });

  it('fit Stripe\'s 255-character limit and say what they are for', () => {
    const longest = stripeIdempotencyKey('checkout', { tenantId: 't'.repeat(128), userId: 'u'.repeat(128), key: scope.key });
    expect(longest.length).toBeLessThanOrEqual(255);
    expect(longest).toMatch(/^checkout-v1-[0-9a-f]{64}$/);
    expect(derivedId('checkout', scope)).toMatch(/^ord_[0-9a-f]{32}$/);
    expect(derivedId('refund', scope)).toMatch(/^rfd_[0-9a-f]{32}$/);
  });
});
