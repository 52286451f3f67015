import { createCheckout, parseCheckoutRequest } from '../domain/checkout';
import { problemResult, result } from '../shared/http';
import { ProblemError } from '../shared/problem';
import { idempotentRoute, type PaymentRouteDeps } from '../shared/idempotent-step';
import { DynamoDbOrderStore } from '../shared/order-store';

/** POST /v1/checkouts: translation only; the business step is createCheckout. */
export function createCheckoutHandler(deps: PaymentRouteDeps) {
  const now = deps.now ?? (() => new Date());
  const orders = new DynamoDbOrderStore(deps.dynamoDb, deps.ordersTableName, now);
  return idempotentRoute({ operation: 'checkout', parse: parseCheckoutRequest, deps }, async (request) => {
    const outcome = await createCheckout(request, { gateway: deps.gateway, orders, now, journal: deps.journal });
    // Thrown, not returned: a stored answer would lock the original request out for the TTL.
    if (outcome.kind === 'keyReused') throw new ProblemError('idempotencyKeyReused');
    if (outcome.kind === 'rejected') {
      return problemResult('paymentRequestRejected', outcome.message, { stripeCode: outcome.code ?? null });
    }
    const { order } = outcome;
    return result(201, {
      orderId: order.orderId,
      status: order.paymentStatus,
      checkoutSessionId: order.checkoutSessionId,
      checkoutUrl: order.checkoutUrl,
    });
  });
}
