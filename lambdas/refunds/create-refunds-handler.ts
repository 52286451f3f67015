import { refundRequestView } from '../domain/ledger';
import { createRefund, parseRefundRequest } from '../domain/refund';
import { problemResult, result } from '../shared/http';
import { ProblemError } from '../shared/problem';
import { idempotentRoute, type PaymentRouteDeps } from '../shared/idempotent-step';
import { DynamoDbOrderStore } from '../shared/order-store';

/** POST /v1/refunds: translation only; the business step is createRefund. */
export function createRefundsHandler(deps: PaymentRouteDeps) {
  const now = deps.now ?? (() => new Date());
  const orders = new DynamoDbOrderStore(deps.dynamoDb, deps.ordersTableName, now);
  return idempotentRoute({ operation: 'refund', parse: parseRefundRequest, deps }, async (request) => {
    const outcome = await createRefund(request, { gateway: deps.gateway, orders, now, journal: deps.journal });
    switch (outcome.kind) {
      case 'created':
        return result(201, refundRequestView(outcome.order, outcome.reservation));
      case 'keyReused':
        // Thrown, not returned: a stored answer would lock the original request out for the TTL.
        throw new ProblemError('idempotencyKeyReused');
      case 'disputeOpen':
        return problemResult('orderDisputed', 'The payment has an open dispute; Stripe refuses refunds until it closes');
      case 'orderNotFound':
        return problemResult('notFound', 'No such order');
      case 'notRefundable':
        return problemResult('orderNotRefundable', `The order is ${outcome.status}`, { orderStatus: outcome.status });
      case 'amountInvalid':
        return problemResult('refundAmountInvalid');
      case 'exceedsBalance':
        return problemResult('refundExceedsBalance', `At most ${outcome.refundable} can be refunded`, { refundable: outcome.refundable });
      case 'rejected':
        return problemResult('paymentRequestRejected', outcome.message, { stripeCode: outcome.code ?? null });
    }
  });
}
