import { sqsClient } from '../shared/aws-clients';
import { requiredEnv } from '../shared/env';
import { webhookSigningSecrets } from '../shared/stripe-secrets';
import { createWebhookHandler } from './create-webhook-handler';

export const handler = createWebhookHandler({
  sqs: sqsClient(),
  queueUrl: requiredEnv('EVENTS_QUEUE_URL'),
  webhookSigningSecrets,
});
