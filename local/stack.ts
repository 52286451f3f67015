import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { EVENTS_QUEUE_MAX_MESSAGE_BYTES } from '../lib/limits';
import type { HandlerName } from '../lib/routes';
import { LocalApiGateway, type ProxyHandler } from './api-gateway';
import { createTables, LOCAL_CREDENTIALS, LOCAL_TABLE_NAMES, startDynalite, type LocalDynamoDb } from './dynamodb';
import { QueuePoller, type SqsHandler } from './queue-poller';
import { startSqsEmulator, type SqsEmulator } from './sqs-emulator/server';
import { startStripeEmulator, type StripeEmulator } from './stripe-emulator/server';

export interface LocalStackOptions {
  /** 0 picks a free port. */
  ports: { api: number; stripe: number; sqs: number; dynamodb: number };
  /** Keep DynamoDB data in this folder instead of memory. */
  persistDir?: string;
  /** A real Stripe test key: the handlers then talk to Stripe itself instead of the emulator. */
  realStripeSecretKey?: string;
  /** Signing secret for webhooks (the emulator signs with it; the receiver verifies with it). */
  webhookSecret: string;
  /** Visibility timeout of the local events queue: how soon a failed event is retried. @default 2 */
  queueVisibilitySeconds?: number;
  /** @default 5, as deployed */
  maxReceiveCount?: number;
  /** Webhook retry waits of the emulator. */
  webhookRetryScheduleMs?: number[];
  /** Let the Stripe emulator deliver its events to the webhook route. @default true */
  deliverWebhooks?: boolean;
  /** Concurrent queue pollers (the event source mapping's concurrency). @default 2 */
  pollers?: number;
  /** How often the recovery function runs. @default 60 */
  recoveryIntervalSeconds?: number;
}

export interface LocalStack {
  apiUrl: string;
  stripeUrl: string | undefined;
  sqsUrl: string;
  dynamoDbUrl: string;
  queueUrl: string;
  deadLetterQueueUrl: string;
  stripe: StripeEmulator | undefined;
  dynamoDb: LocalDynamoDb;
  stop(): Promise<void>;
}

export const LOCAL_QUEUE_NAMES = { events: 'stripe-events', deadLetter: 'stripe-events-dlq' };
export const LOCAL_EMULATOR_SECRET_KEY = 'sk_test_local_emulator';

/**
 * Everything `npm start` runs, in one process: dynalite, the SQS and Stripe emulators, the API
 * Gateway emulator with the real handlers, and the queue poller feeding the real processor.
 */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const stoppers: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const stopOne of stoppers.reverse()) await stopOne().catch(() => undefined);
  };
  try {
    const dynamoDb = await startDynalite({ port: options.ports.dynamodb, path: options.persistDir });
    stoppers.push(() => dynamoDb.close());
    await createTables(dynamoDb.client);

    const sqsEmulator: SqsEmulator = await startSqsEmulator({ port: options.ports.sqs });
    stoppers.push(() => sqsEmulator.close());
    const sqs = new SQSClient({ endpoint: sqsEmulator.url, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
    stoppers.push(async () => sqs.destroy());
    const { deadLetterQueueUrl, queueUrl, queueArn } = await createEventQueues(sqs, options);

    const api = new LocalApiGateway();
    const apiUrl = await api.listen(options.ports.api);
    stoppers.push(() => api.close());

    let stripe: StripeEmulator | undefined;
    if (!options.realStripeSecretKey) {
      stripe = await startStripeEmulator({
        port: options.ports.stripe,
        webhook: options.deliverWebhooks === false ? undefined : { url: `${apiUrl}/v1/webhooks/stripe`, secret: options.webhookSecret },
        webhookRetryScheduleMs: options.webhookRetryScheduleMs,
      });
      stoppers.push(() => stripe!.close());
    }

    // The same handler modules Lambda runs, configured the way the stack configures them.
    Object.assign(process.env, {
      AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      DYNAMODB_ENDPOINT: dynamoDb.endpoint,
      SQS_ENDPOINT: sqsEmulator.url,
      ORDERS_TABLE_NAME: LOCAL_TABLE_NAMES.orders,
      IDEMPOTENCY_TABLE_NAME: LOCAL_TABLE_NAMES.idempotency,
      SUBSCRIPTIONS_TABLE_NAME: LOCAL_TABLE_NAMES.subscriptions,
      EVENTS_QUEUE_URL: queueUrl,
      STRIPE_SECRET_KEY: options.realStripeSecretKey ?? LOCAL_EMULATOR_SECRET_KEY,
      STRIPE_WEBHOOK_SECRET: options.webhookSecret,
      RECOVERY_GRACE_SECONDS: process.env.RECOVERY_GRACE_SECONDS ?? '120',
      ...(stripe ? { STRIPE_API_BASE: stripe.url } : {}),
    });
    if (!stripe) delete process.env.STRIPE_API_BASE;
    const handlers = await loadHandlers();
    api.use(handlers);

    const poller = new QueuePoller({ sqs, queueUrl, queueArn, handler: handlers.events, concurrency: options.pollers });
    poller.start();
    stoppers.push(() => poller.stop());

    // The scheduled recovery function, as EventBridge runs it deployed (every 5 minutes there).
    const recoveryEverySeconds = options.recoveryIntervalSeconds ?? 60;
    let recovering: Promise<unknown> = Promise.resolve();
    const recoveryTimer = setInterval(() => {
      recovering = recovering.then(() => handlers.recovery()).catch(() => undefined);
    }, recoveryEverySeconds * 1000);
    recoveryTimer.unref();
    stoppers.push(async () => {
      clearInterval(recoveryTimer);
      await recovering;
    });

    return {
      apiUrl,
      stripeUrl: stripe?.url,
      sqsUrl: sqsEmulator.url,
      dynamoDbUrl: dynamoDb.endpoint,
      queueUrl,
      deadLetterQueueUrl,
      stripe,
      dynamoDb,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function createEventQueues(sqs: SQSClient, options: LocalStackOptions) {
  // The size limit the deployed queues have (lib/constructs/processed-queue.ts).
  const maximumMessageSize = String(EVENTS_QUEUE_MAX_MESSAGE_BYTES);
  const { QueueUrl: deadLetterQueueUrl } = await sqs.send(
    new CreateQueueCommand({ QueueName: LOCAL_QUEUE_NAMES.deadLetter, Attributes: { MessageRetentionPeriod: String(14 * 86400), MaximumMessageSize: maximumMessageSize } }),
  );
  const dlq = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: deadLetterQueueUrl, AttributeNames: ['QueueArn'] }));
  const { QueueUrl: queueUrl } = await sqs.send(
    new CreateQueueCommand({
      QueueName: LOCAL_QUEUE_NAMES.events,
      Attributes: {
        VisibilityTimeout: String(options.queueVisibilitySeconds ?? 2),
        MessageRetentionPeriod: String(14 * 86400),
        MaximumMessageSize: maximumMessageSize,
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.Attributes!.QueueArn, maxReceiveCount: options.maxReceiveCount ?? 5 }),
      },
    }),
  );
  const main = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
  return { deadLetterQueueUrl: deadLetterQueueUrl!, queueUrl: queueUrl!, queueArn: main.Attributes!.QueueArn! };
}

async function loadHandlers(): Promise<Record<HandlerName, ProxyHandler> & { events: SqsHandler; recovery: () => Promise<unknown> }> {
  const [checkout, orders, refunds, subscriptions, webhooks, events, recovery] = await Promise.all([
    import('../lambdas/checkout/handler'),
    import('../lambdas/orders/handler'),
    import('../lambdas/refunds/handler'),
    import('../lambdas/subscriptions/handler'),
    import('../lambdas/webhooks/handler'),
    import('../lambdas/events/handler'),
    import('../lambdas/recovery/handler'),
  ]);
  return { checkout: checkout.handler, orders: orders.handler, refunds: refunds.handler, subscriptions: subscriptions.handler, webhooks: webhooks.handler, events: events.handler, recovery: recovery.handler };
}
