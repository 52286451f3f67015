import { dynamoDbClient } from '../shared/aws-clients';
import { positiveIntEnv, requiredEnv } from '../shared/env';
import { StripePaymentGateway } from '../shared/stripe-gateway';
import { createRecovery } from './create-recovery';

/** EventBridge schedule → one recovery run. */
export const handler = createRecovery({
  dynamoDb: dynamoDbClient(),
  ordersTableName: requiredEnv('ORDERS_TABLE_NAME'),
  gateway: new StripePaymentGateway(),
  graceSeconds: positiveIntEnv('RECOVERY_GRACE_SECONDS', 600),
  maxChecksPerRun: positiveIntEnv('RECOVERY_MAX_CHECKS_PER_RUN', 200),
});
