import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { EVENTS_QUEUE_MAX_MESSAGE_BYTES } from '../lib/limits';
import type { HandlerName } from '../lib/routes';
import { LocalApiGateway, type ProxyHandler, type RequestLogEntry } from './api-gateway';
import { chooseDynamoDbBackend, createTables, LOCAL_CREDENTIALS, LOCAL_TABLE_NAMES, startLocalDynamoDb, type DynamoDbBackend, type LocalDynamoDb } from './dynamodb';
import { collectionsOf, restoreCollections, StateFiles, type PersistedPart } from './persistence';
import { listening } from './ports';
import { validAllowedOrigins, CORS_ALLOWED_ORIGINS_ENV } from '../lambdas/shared/cors';
import { createShop, startShopServer, type ShopServer } from './shop/server';
import { QueuePoller, type SqsHandler } from './queue-poller';
import { startSqsEmulator, type SqsEmulator } from './sqs-emulator/server';
import { startStripeEmulator, type StripeEmulator } from './stripe-emulator/server';
import { LOCAL_APP_CLIENT_ID } from './token';

export interface LocalStackOptions {
  /** 0 picks a free port. */
  /** The shop's port: @default 0 (a free one). */
  ports: { api: number; stripe: number; sqs: number; dynamodb: number; shop?: number };
  /** Keep the local world in this folder: DynamoDB, the Stripe emulator's state, the queues' messages. */
  persistDir?: string;
  /** @default chooseDynamoDbBackend(): DYNAMODB_BACKEND, else DynamoDB Local when Java is there */
  dynamoDbBackend?: DynamoDbBackend;
  /** A database that is already running (the tests' shared DynamoDB Local); the stack closes its client. */
  dynamoDb?: LocalDynamoDb;
  /** Serve the demo shop at /shop/ on its own port (bundled with esbuild at start); its origins (127.0.0.1 and localhost) are allowed (CORS). @default false */
  shop?: boolean;
  /**
   * Origins allowed to call the API from a browser besides the shop's: the deployed stack's
   * context corsAllowedOrigins (`npm start` passes cdk.json's, local/cors-origins.ts), applied
   * by the API Gateway emulator and the handlers alike.
   * @default [] (with no shop either: no CORS, as deployed without the context key)
   */
  corsAllowedOrigins?: string[];
  /** Called once per API request answered (the `npm start` terminal's log). */
  onRequest?: (entry: RequestLogEntry) => void;
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
  shopUrl: string | undefined;
  /** The origins the API allows (CORS): the configured ones, then the shop's. */
  corsAllowedOrigins: string[];
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
 * Everything `npm start` runs: DynamoDB Local (its own JVM) or dynalite, the SQS and Stripe
 * emulators, the API Gateway emulator with the real handlers, and the queue poller feeding the
 * real processor, all in this process but the JVM.
 */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const stoppers: (() => Promise<void>)[] = [];
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      for (const stopOne of [...stoppers].reverse()) await stopOne().catch(() => undefined);
    })());
  try {
    const dynamoDb =
      options.dynamoDb ??
      (await listening('dynamodb', options.ports.dynamodb, startLocalDynamoDb({ backend: options.dynamoDbBackend ?? defaultBackend(), port: options.ports.dynamodb, persistDir: options.persistDir })));
    stoppers.push(() => dynamoDb.close());
    await createTables(dynamoDb.client);

    const sqsEmulator: SqsEmulator = await listening('sqs', options.ports.sqs, startSqsEmulator({ port: options.ports.sqs }));
    stoppers.push(() => sqsEmulator.close());
    const sqs = new SQSClient({ endpoint: sqsEmulator.url, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
    stoppers.push(async () => sqs.destroy());
    const { deadLetterQueueUrl, queueUrl, queueArn } = await createEventQueues(sqs, options);

    let shop: ShopServer | undefined;
    if (options.shop) {
      const port = options.ports.shop ?? 0;
      shop = await listening('shop', port, startShopServer(port));
      stoppers.push(() => shop!.close());
    }
    const corsAllowedOrigins = validAllowedOrigins([...(options.corsAllowedOrigins ?? []), ...(shop?.origins ?? [])], 'corsAllowedOrigins');
    const api = new LocalApiGateway(undefined, corsAllowedOrigins);
    api.onRequest = options.onRequest;
    const apiUrl = await listening('api', options.ports.api, api.listen(options.ports.api));
    stoppers.push(() => api.close());

    let stripe: StripeEmulator | undefined;
    if (!options.realStripeSecretKey) {
      stripe = await listening('stripe', options.ports.stripe, startStripeEmulator({
        port: options.ports.stripe,
        webhook: options.deliverWebhooks === false ? undefined : { url: `${apiUrl}/v1/webhooks/stripe`, secret: options.webhookSecret },
        webhookRetryScheduleMs: options.webhookRetryScheduleMs,
      }));
      stoppers.push(() => stripe!.close());
    }
    const backlog = stripe && options.deliverWebhooks !== false ? new WebhookBacklog(stripe) : undefined;
    if (options.persistDir) {
      const files = new StateFiles(options.persistDir, [...persistedParts(stripe, sqsEmulator), ...(backlog ? [backlog] : [])]);
      files.load(); // before the API is ready: nothing can have changed the emulators yet
      backlog?.loaded();
      files.start();
      stoppers.unshift(async () => files.stop()); // stoppers run in reverse: this one last, once nothing can change
    }

    // The same handler modules Lambda runs, configured the way the stack configures them.
    Object.assign(process.env, {
      AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
      AWS_ACCESS_KEY_ID: dynamoDb.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: dynamoDb.credentials.secretAccessKey,
      DYNAMODB_ENDPOINT: dynamoDb.endpoint,
      SQS_ENDPOINT: sqsEmulator.url,
      ORDERS_TABLE_NAME: LOCAL_TABLE_NAMES.orders,
      JOURNAL_TABLE_NAME: LOCAL_TABLE_NAMES.journal,
      IDEMPOTENCY_TABLE_NAME: LOCAL_TABLE_NAMES.idempotency,
      SUBSCRIPTIONS_TABLE_NAME: LOCAL_TABLE_NAMES.subscriptions,
      EVENTS_QUEUE_URL: queueUrl,
      STRIPE_SECRET_KEY: options.realStripeSecretKey ?? LOCAL_EMULATOR_SECRET_KEY,
      STRIPE_WEBHOOK_SECRET: options.webhookSecret,
      RECOVERY_GRACE_SECONDS: process.env.RECOVERY_GRACE_SECONDS ?? '120',
      COGNITO_APP_CLIENT_IDS: LOCAL_APP_CLIENT_ID,
      [CORS_ALLOWED_ORIGINS_ENV]: corsAllowedOrigins.join(','),
      ...(stripe ? { STRIPE_API_BASE: stripe.url } : {}),
    });
    if (!stripe) delete process.env.STRIPE_API_BASE;
    shop?.use(await createShop({ stripe: { secretKey: options.realStripeSecretKey ?? LOCAL_EMULATOR_SECRET_KEY, apiBase: stripe?.url }, apiUrl }));
    const handlers = await loadHandlers();
    api.use(handlers);
    backlog?.redeliver();

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
      shopUrl: shop?.url,
      corsAllowedOrigins,
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

function defaultBackend(): DynamoDbBackend {
  const { backend, notice } = chooseDynamoDbBackend();
  if (notice) console.warn(notice);
  return backend;
}

/** Fields of the Stripe emulator's state that describe this run only, not the world. */
// The webhook endpoints are registered afresh at every start (their URLs carry this run's port).
const TRANSIENT_STRIPE_STATE = ['faults', 'requests', 'webhookEndpoints'];

/** What --persist keeps besides DynamoDB: the Stripe emulator's collections, the queues' messages. */
function persistedParts(stripe: StripeEmulator | undefined, sqs: SqsEmulator): PersistedPart[] {
  const parts: PersistedPart[] = [
    {
      file: 'sqs-messages.json',
      take: () => Object.fromEntries([...sqs.queues].map(([name, queue]) => [name, queue.messages])),
      // By queue name: the queues are created afresh at start (their URLs carry this run's port).
      // A message that was in flight comes back after its visibility timeout, as after a crash.
      restore: (saved) => {
        for (const [name, messages] of Object.entries(saved as Record<string, object[]>)) {
          const queue = sqs.queues.get(name);
          if (queue) queue.messages = messages;
        }
      },
    },
  ];
  if (stripe) {
    parts.push({
      file: 'stripe-emulator.json',
      take: () => collectionsOf(stripe.state, TRANSIENT_STRIPE_STATE),
      restore: (saved) => restoreCollections(stripe.state, saved as Record<string, unknown>),
    });
  }
  return parts;
}

/**
 * Events the emulator had not delivered when the stack stopped (a delivery cut short, a retry
 * still waiting): Stripe would keep retrying them, so after a --persist restart they are sent again.
 */
class WebhookBacklog implements PersistedPart {
  readonly file = 'stripe-webhook-backlog.json';
  private fromLastRun = new Set<string>();
  private restoredEvents = 0;

  constructor(private readonly stripe: StripeEmulator) {}

  take(): string[] {
    const delivered = new Set(this.stripe.webhooks.attempts.filter((a) => typeof a.status === 'number' && a.status >= 200 && a.status < 300).map((a) => a.eventId));
    return this.stripe.state.events
      .filter((event, index) => (index >= this.restoredEvents || this.fromLastRun.has(event.id)) && !delivered.has(event.id))
      .map((event) => event.id);
  }

  restore(saved: unknown): void {
    this.fromLastRun = new Set(saved as string[]);
  }

  /** Events from here on were emitted in this run. */
  loaded(): void {
    this.restoredEvents = this.stripe.state.events.length;
  }

  /** Once the webhook route can answer. */
  redeliver(): void {
    for (const event of this.stripe.state.events) if (this.fromLastRun.has(event.id)) this.stripe.webhooks.send(event);
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
  const [checkout, orders, refunds, subscriptions, webhooks, problems, events, recovery] = await Promise.all([
    import('../lambdas/checkout/handler'),
    import('../lambdas/orders/handler'),
    import('../lambdas/refunds/handler'),
    import('../lambdas/subscriptions/handler'),
    import('../lambdas/webhooks/handler'),
    import('../lambdas/problems/handler'),
    import('../lambdas/events/handler'),
    import('../lambdas/recovery/handler'),
  ]);
  return { checkout: checkout.handler, orders: orders.handler, refunds: refunds.handler, subscriptions: subscriptions.handler, webhooks: webhooks.handler, problems: problems.handler, events: events.handler, recovery: recovery.handler };
}
