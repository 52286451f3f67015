import { withCors } from '../shared/cors';
import { dynamoDbClient } from '../shared/aws-clients';
import { positiveIntEnv, requiredEnv } from '../shared/env';
import { StripeBillingGateway } from '../shared/stripe-billing-gateway';
import { createSubscriptionsHandler } from './create-subscriptions-handler';

// CORS headers for the allowed origins (CORS_ALLOWED_ORIGINS): API Gateway adds none to a proxy response.
export const handler = withCors(createSubscriptionsHandler({
  dynamoDb: dynamoDbClient(),
  subscriptionsTableName: requiredEnv('SUBSCRIPTIONS_TABLE_NAME'),
  idempotencyTableName: requiredEnv('IDEMPOTENCY_TABLE_NAME'),
  billing: new StripeBillingGateway(),
  idempotencyTtlSeconds: positiveIntEnv('CHECKOUT_IDEMPOTENCY_TTL_SECONDS', 86_400),
  openCheckoutMaxAgeSeconds: positiveIntEnv('SUBSCRIPTION_CHECKOUT_MAX_AGE_SECONDS', 3600),
}));
