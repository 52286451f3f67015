import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import type { PaymentGateway } from '../domain/ports';
import { createRefund, parseRefundRequest, type RefundRequest } from '../domain/refund';
import { parseJsonBody, problemResult, respond, result } from '../shared/http';
import { idempotentStep } from '../shared/idempotent-step';
import { DynamoDbOrderStore } from '../shared/order-store';
import { callerOf, idempotencyKeyOf } from '../shared/request-identity';

export interface RefundsHandlerDeps {
  dynamoDb: DynamoDBClient;
  ordersTableName: string;
  idempotencyTableName: string;
  gateway: PaymentGateway;
  /** @default 86400 */
  idempotencyTtlSeconds?: number;
  now?: () => Date;
}

/** POST /v1/refunds: translation only; the business step is createRefund. */
export function createRefundsHandler(deps: RefundsHandlerDeps) {
  const now = deps.now ?? (() => new Date());
  const orders = new DynamoDbOrderStore(deps.dynamoDb, deps.ordersTableName, now);
  const createRefundOnce = idempotentStep<RefundRequest>(
    { operation: 'refund', tableName: deps.idempotencyTableName, dynamoDb: deps.dynamoDb, expiresAfterSeconds: deps.idempotencyTtlSeconds },
    async (request) => {
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
    },
  );

  return (event: APIGatewayProxyEvent, context: Context) =>
    respond(async () => {
      const caller = callerOf(event);
      const key = idempotencyKeyOf(event);
      const payload = parseRefundRequest(parseJsonBody(event));
      return createRefundOnce({ scope: { ...caller, key }, payload }, context);
    });
}
