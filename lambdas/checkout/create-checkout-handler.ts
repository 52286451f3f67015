import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { createCheckout, parseCheckoutRequest, type CheckoutRequest } from '../domain/checkout';
import type { PaymentGateway } from '../domain/ports';
import { parseJsonBody, problemResult, respond, result } from '../shared/http';
import { idempotentStep } from '../shared/idempotent-step';
import { DynamoDbOrderStore } from '../shared/order-store';
import { callerOf, idempotencyKeyOf } from '../shared/request-identity';

export interface CheckoutHandlerDeps {
  dynamoDb: DynamoDBClient;
  ordersTableName: string;
  idempotencyTableName: string;
  gateway: PaymentGateway;
  /** @default 86400 */
  idempotencyTtlSeconds?: number;
  now?: () => Date;
}

/** POST /v1/checkouts: translation only; the business step is createCheckout. */
export function createCheckoutHandler(deps: CheckoutHandlerDeps) {
  const now = deps.now ?? (() => new Date());
  const orders = new DynamoDbOrderStore(deps.dynamoDb, deps.ordersTableName, now);
  const createCheckoutOnce = idempotentStep<CheckoutRequest>(
    {
      operation: 'checkout',
      tableName: deps.idempotencyTableName,
      dynamoDb: deps.dynamoDb,
      expiresAfterSeconds: deps.idempotencyTtlSeconds,
    },
    async (request) => {
      const outcome = await createCheckout(request, { gateway: deps.gateway, orders, now });
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
    },
  );

  return (event: APIGatewayProxyEvent, context: Context) =>
    respond(async () => {
      const caller = callerOf(event);
      const key = idempotencyKeyOf(event);
      // Schema errors are answered here, before the idempotency record exists: nothing is stored.
      const payload = parseCheckoutRequest(parseJsonBody(event));
      return createCheckoutOnce({ scope: { ...caller, key }, payload }, context);
    });
}
