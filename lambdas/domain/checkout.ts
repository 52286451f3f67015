import { PaymentProviderSavedFailureError, PaymentRejectedError } from './errors';

const MAX_KEYS_PER_CHECKOUT = 4;
import { derivedId, stripeIdempotencyKey, type IdempotentRequest } from './idempotency-scope';
import { journaledCall, type Journal } from './journal';
import type { Order } from './order';
import type { OrderStore, PaymentGateway } from './ports';
import { validateRequestBody } from './validation';

export interface CheckoutRequest {
  lineItems: { price: string; quantity: number }[];
  successUrl: string;
  cancelUrl: string;
  customerEmail?: string;
}

/** Schema check of POST /v1/checkouts (docs/openapi.yaml). Amounts are not a field: they come from Stripe Prices. */
export function parseCheckoutRequest(body: unknown): CheckoutRequest {
  return validateRequestBody<CheckoutRequest>('CheckoutRequest', body);
}

export type CheckoutOutcome =
  | { kind: 'created'; order: Order }
  | { kind: 'keyReused' }
  | { kind: 'rejected'; message: string; code: string | undefined };

/**
 * Creates the Stripe Checkout Session and the order, exactly once per idempotency scope.
 * The order is looked up first: a key already used (even after our idempotency record expired)
 * either returns its order or, with another body, is refused before anything reaches Stripe.
 * Then Stripe, then one conditional put: a crash in between is healed by the retry, because the
 * deterministic Stripe key makes Stripe return the same session and the order id is derived.
 * A session created by a request that lost the race to the put is expired at once, so no one
 * can pay a session that no order owns.
 */
export async function createCheckout(
  { scope, payload, fingerprint }: IdempotentRequest<CheckoutRequest>,
  deps: { gateway: PaymentGateway; orders: OrderStore; now: () => Date; journal?: Journal },
): Promise<CheckoutOutcome> {
  const orderId = derivedId('checkout', scope);
  const existing = await deps.orders.getOrder(orderId);
  if (existing) return existing.requestFingerprint === fingerprint ? { kind: 'created', order: existing } : { kind: 'keyReused' };
  let stripeKey = stripeIdempotencyKey('checkout', scope);
  let session;
  for (let attempt = 1; !session; attempt++) {
    try {
      const key = stripeKey;
      session = await journaledCall(
        deps.journal,
        { operation: 'create_checkout_session', orderId, tenantId: scope.tenantId, ourId: orderId, stripeIdempotencyKey: key, at: deps.now().toISOString() },
        () => deps.gateway.createCheckoutSession({ orderId, tenantId: scope.tenantId, ...payload }, key),
        (created) => created.id,
      );
    } catch (error) {
      if (error instanceof PaymentRejectedError) return { kind: 'rejected', message: error.message, code: error.code };
      // Stripe saved a failed attempt under this key and replays it for 24 h; that attempt made
      // no session, so the next key in a fixed sequence is safe (and the same on every retry).
      if (error instanceof PaymentProviderSavedFailureError && attempt < MAX_KEYS_PER_CHECKOUT) {
        stripeKey = `${stripeIdempotencyKey('checkout', scope)}-r${attempt + 1}`;
        continue;
      }
      throw error;
    }
  }
  const now = deps.now().toISOString();
  const order = await deps.orders.createOrder({
    orderId,
    tenantId: scope.tenantId,
    userId: scope.userId,
    version: 1,
    paymentStatus: 'pending',
    currency: session.currency,
    amountTotal: session.amountTotal,
    checkoutSessionId: session.id,
    checkoutUrl: session.url,
    stripeIdempotencyKey: stripeKey,
    requestFingerprint: fingerprint,
    refunds: {},
    reservations: {},
    disputes: {},
    anomalies: [],
    createdAt: now,
    updatedAt: now,
  });
  if (order.checkoutSessionId !== session.id) {
    const expired = session.id;
    await journaledCall(
      deps.journal,
      { operation: 'expire_checkout_session', orderId, tenantId: scope.tenantId, ourId: orderId, stripeIdempotencyKey: null, at: deps.now().toISOString() },
      () => deps.gateway.expireCheckoutSession(expired),
      () => expired,
    );
  }
  return order.requestFingerprint === fingerprint ? { kind: 'created', order } : { kind: 'keyReused' };
}
