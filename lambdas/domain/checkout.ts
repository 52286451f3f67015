import { PaymentRejectedError } from './errors';
import { derivedId, stripeIdempotencyKey, type IdempotentRequest } from './idempotency-scope';
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
  | { kind: 'rejected'; message: string; code: string | undefined };

/**
 * Creates the Stripe Checkout Session and the order, exactly once per idempotency scope.
 * Stripe first, then one conditional put: a crash in between is healed by the retry, because
 * the deterministic Stripe key makes Stripe return the same session and the order id is derived.
 */
export async function createCheckout(
  { scope, payload }: IdempotentRequest<CheckoutRequest>,
  deps: { gateway: PaymentGateway; orders: OrderStore; now: () => Date },
): Promise<CheckoutOutcome> {
  const orderId = derivedId('checkout', scope);
  const stripeKey = stripeIdempotencyKey('checkout', scope);
  let session;
  try {
    session = await deps.gateway.createCheckoutSession({ orderId, tenantId: scope.tenantId, ...payload }, stripeKey);
  } catch (error) {
    if (error instanceof PaymentRejectedError) return { kind: 'rejected', message: error.message, code: error.code };
    throw error;
  }
  const now = deps.now().toISOString();
  const order = await deps.orders.createOrder({
    orderId,
    tenantId: scope.tenantId,
    userId: scope.userId,
    paymentStatus: 'pending',
    currency: session.currency,
    amountTotal: session.amountTotal,
    amountRefunded: 0,
    amountRefundable: 0,
    checkoutSessionId: session.id,
    checkoutUrl: session.url,
    stripeIdempotencyKey: stripeKey,
    disputed: false,
    refunds: {},
    createdAt: now,
    updatedAt: now,
  });
  return { kind: 'created', order };
}
