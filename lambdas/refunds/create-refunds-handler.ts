import { createRefund, parseRefundRequest } from '../domain/refund';
import { problemResult, result } from '../shared/http';
import { idempotentRoute, type PaymentRouteDeps } from '../shared/idempotent-step';
import { DynamoDbOrderStore } from '../shared/order-store';

/** POST /v1/refunds: translation only; the business step is createRefund. */
export function createRefundsHandler(deps: PaymentRouteDeps) {
  const now = deps.now ?? (() => new Date());
  const orders = new DynamoDbOrderStore(deps.dynamoDb, deps.ordersTableName, now);
  return idempotentRoute({ operation: 'refund', parse: parseRefundRequest, deps }, async (request) => {
    const outcome = await createRefund(request, { gateway: deps.gateway, orders, now });
    switch (outcome.kind) {
      case 'created':
        return result(201, {
          refundId: outcome.refund.refundId,
          orderId: outcome.order.orderId,
          amount: outcome.refund.amount,
          currency: outcome.order.currency,
          status: outcome.refund.status,
        });
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
