import { dynamoDbClient } from '../shared/aws-clients';
import { positiveIntEnv, requiredEnv } from '../shared/env';
import { StripePaymentGateway } from '../shared/stripe-gateway';
import { createCheckoutHandler } from './create-checkout-handler';

export const handler = createCheckoutHandler({
  dynamoDb: dynamoDbClient(),
  ordersTableName: requiredEnv('ORDERS_TABLE_NAME'),
  idempotencyTableName: requiredEnv('IDEMPOTENCY_TABLE_NAME'),
  gateway: new StripePaymentGateway(),
  idempotencyTtlSeconds: positiveIntEnv('CHECKOUT_IDEMPOTENCY_TTL_SECONDS', 86_400),
});
