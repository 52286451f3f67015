import { Aws, CfnOutput, Duration, RemovalPolicy, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import { ClientAttributes, StringAttribute, UserPool, type IUserPool } from 'aws-cdk-lib/aws-cognito';
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { CORS_ALLOWED_ORIGINS_ENV } from '../lambdas/shared/cors';
import { STRIPE_CLIENT_DEFAULTS, stripeCallBudgetMs } from '../lambdas/shared/stripe-time-budget';
import type { PaymentsStackConfig } from './config';
import { Operations } from './constructs/operations';
import { PaymentsApi } from './constructs/payments-api';
import { PaymentsFunction } from './constructs/payments-function';
import { ProcessedQueue } from './constructs/processed-queue';
import { routes, type HandlerName } from './routes';
import { idempotencyTable, journalTable, ordersTable, subscriptionsTable, type TableSchema } from './tables';

export interface PaymentsStackProps extends StackProps {
  readonly config: PaymentsStackConfig;
}

/** What Powertools idempotency does to its table. */
const IDEMPOTENCY_ACTIONS = ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'];
/**
 * The keyPrefix each function gives Powertools (record ids are `<prefix>#<hash>`): a function may
 * touch only its own records (dynamodb:LeadingKeys), so a bug in one cannot replay another's.
 */
export const IDEMPOTENCY_KEY_PREFIXES = { checkout: 'checkout', refunds: 'refund', events: 'stripe-event', subscriptions: ['subscription', 'subscription-cancel', 'billing-portal'] } as const;

/** API Gateway gives up after 29 s; the function answers before that, Stripe's worst case included. */
const STRIPE_FUNCTION_TIMEOUT = Duration.seconds(25);
/** Room left in the function timeout for DynamoDB, Secrets Manager and a cold start. */
const NON_STRIPE_MARGIN_MS = 5000;

/** What the stack outputs: `npm run doctor` and the user commands read these. */
export interface StackOutputs {
  ApiUrl: string;
  WebhookUrl: string;
  UserPoolId: string;
  AppClientIds: string;
  StripeApiKeySecretName: string;
  StripeWebhookSecretName: string;
  AlarmTopicArn: string;
}

export class PaymentsStack extends Stack {
  readonly api: PaymentsApi;
  readonly idempotencyTable: Table;
  readonly ordersTable: Table;
  /** Every Stripe event received and every write sent to Stripe (lib/tables.ts `journalTable`). */
  readonly journalTable: Table;
  /** Customers, subscription guards and subscriptions (lib/tables.ts `subscriptionsTable`). */
  readonly subscriptionsTable: Table;
  readonly functions: Record<HandlerName | 'events' | 'recovery', PaymentsFunction>;
  readonly events: ProcessedQueue;
  readonly operations: Operations;
  readonly encryptionKey?: Key;

  constructor(scope: Construct, id: string, props: PaymentsStackProps) {
    super(scope, id, props);
    const { config } = props;
    const prod = config.stage === 'prod';
    const logRetention = prod ? RetentionDays.ONE_YEAR : RetentionDays.ONE_MONTH;

    if (config.kmsEncryption) {
      this.encryptionKey = new Key(this, 'DataKey', { enableKeyRotation: true, description: 'Payments tables, queues and alarm topic', removalPolicy: RemovalPolicy.RETAIN });
      // CloudWatch alarms publish to the encrypted topic; only this account's alarms may use the key.
      this.encryptionKey.addToResourcePolicy(
        new PolicyStatement({
          principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
          actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          resources: ['*'],
          conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID }, ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:*` } },
        }),
      );
    }
    this.idempotencyTable = this.table('IdempotencyTable', idempotencyTable, config);
    this.ordersTable = this.table('OrdersTable', ordersTable, config);
    this.journalTable = this.table('JournalTable', journalTable, config);
    this.subscriptionsTable = this.table('SubscriptionsTable', subscriptionsTable, config);
    const { userPool, appClientIds } = this.identity(config);

    const shared = {
      logRetention,
      logLevel: prod ? 'INFO' : 'DEBUG',
      tables: { ORDERS_TABLE_NAME: this.ordersTable.tableName, IDEMPOTENCY_TABLE_NAME: this.idempotencyTable.tableName, JOURNAL_TABLE_NAME: this.journalTable.tableName },
    };
    const callers = { COGNITO_APP_CLIENT_IDS: appClientIds };
    const stripeApi = { ...stripeClientEnvironment(STRIPE_FUNCTION_TIMEOUT), STRIPE_API_KEY_SECRET_NAME: config.stripeApiKeySecretName };

    const checkout = new PaymentsFunction(this, 'CheckoutFunction', {
      ...shared,
      handlerFolder: 'checkout',
      timeout: STRIPE_FUNCTION_TIMEOUT,
      environment: { ...shared.tables, ...callers, ...stripeApi, CHECKOUT_IDEMPOTENCY_TTL_SECONDS: String(config.checkoutIdempotencyTtlSeconds) },
    });
    this.allowIdempotency(checkout, IDEMPOTENCY_KEY_PREFIXES.checkout);
    this.allow(checkout, this.ordersTable, ['dynamodb:PutItem', 'dynamodb:GetItem']);
    this.allow(checkout, this.journalTable, ['dynamodb:UpdateItem']);
    this.allowSecret(checkout, config.stripeApiKeySecretName);

    const orders = new PaymentsFunction(this, 'OrdersFunction', { ...shared, handlerFolder: 'orders', environment: { ORDERS_TABLE_NAME: this.ordersTable.tableName, JOURNAL_TABLE_NAME: this.journalTable.tableName, ...callers } });
    this.allow(orders, this.ordersTable, ['dynamodb:GetItem']);
    // The history: the order's journal keys from the byOrder index, then the entries.
    this.allow(orders, this.journalTable, ['dynamodb:BatchGetItem']);
    orders.addToRolePolicy(new PolicyStatement({ actions: ['dynamodb:Query'], resources: [`${this.journalTable.tableArn}/index/${journalTable.orderIndex}`] }));

    const refunds = new PaymentsFunction(this, 'RefundsFunction', {
      ...shared,
      handlerFolder: 'refunds',
      timeout: STRIPE_FUNCTION_TIMEOUT,
      environment: { ...shared.tables, ...callers, ...stripeApi, REFUND_IDEMPOTENCY_TTL_SECONDS: String(config.refundIdempotencyTtlSeconds) },
    });
    this.allowIdempotency(refunds, IDEMPOTENCY_KEY_PREFIXES.refunds);
    // Every order write is one PutItem conditional on the version the rule saw (order-store.ts).
    this.allow(refunds, this.ordersTable, ['dynamodb:GetItem', 'dynamodb:PutItem']);
    this.allow(refunds, this.journalTable, ['dynamodb:UpdateItem']);
    this.allowSecret(refunds, config.stripeApiKeySecretName);

    const subscriptions = new PaymentsFunction(this, 'SubscriptionsFunction', {
      ...shared,
      handlerFolder: 'subscriptions',
      timeout: STRIPE_FUNCTION_TIMEOUT,
      environment: {
        IDEMPOTENCY_TABLE_NAME: this.idempotencyTable.tableName,
        SUBSCRIPTIONS_TABLE_NAME: this.subscriptionsTable.tableName,
        ...callers,
        ...stripeApi,
        CHECKOUT_IDEMPOTENCY_TTL_SECONDS: String(config.checkoutIdempotencyTtlSeconds),
      },
    });
    for (const prefix of IDEMPOTENCY_KEY_PREFIXES.subscriptions) this.allowIdempotency(subscriptions, prefix);
    this.allow(subscriptions, this.subscriptionsTable, ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem']);
    subscriptions.addToRolePolicy(new PolicyStatement({ actions: ['dynamodb:Query'], resources: [`${this.subscriptionsTable.tableArn}/index/${subscriptionsTable.ownerIndex}`] }));
    this.allowSecret(subscriptions, config.stripeApiKeySecretName);

    const processorTimeout = Duration.seconds(30);
    const processor = new PaymentsFunction(this, 'EventsFunction', {
      ...shared,
      handlerFolder: 'events',
      timeout: processorTimeout,
      reservedConcurrentExecutions: config.processorReservedConcurrency,
      environment: { ...shared.tables, ...stripeApi, SUBSCRIPTIONS_TABLE_NAME: this.subscriptionsTable.tableName, STRIPE_EVENT_IDEMPOTENCY_TTL_SECONDS: String(config.stripeEventIdempotencyTtlSeconds) },
    });
    this.events = new ProcessedQueue(this, 'StripeEvents', { consumerTimeout: processorTimeout, maxReceiveCount: config.maxReceiveCount, encryptionKey: this.encryptionKey });
    // Reads at Stripe (an early refund's order, an oversized event by id) and, when Stripe is
    // rate limiting, the event goes back on its own queue with a delay instead of to the DLQ.
    processor.addEnvironment('EVENTS_QUEUE_URL', this.events.queue.queueUrl);
    processor.addToRolePolicy(new PolicyStatement({ actions: ['sqs:SendMessage'], resources: [this.events.queue.queueArn] }));
    this.allowSecret(processor, config.stripeApiKeySecretName);
    // MaximumConcurrency: a webhook storm drains at a bounded rate instead of taking the
    // account's concurrency from checkout and refunds; the queue holds the rest.
    processor.addEventSource(
      new SqsEventSource(this.events.queue, { batchSize: 10, maxBatchingWindow: Duration.seconds(1), reportBatchItemFailures: true, maxConcurrency: config.processorMaxConcurrency }),
    );
    this.allowIdempotency(processor, IDEMPOTENCY_KEY_PREFIXES.events);
    this.allow(processor, this.ordersTable, ['dynamodb:GetItem', 'dynamodb:PutItem']);
    // Journal entries are merged with UpdateItem; payloads are put once (conditional PutItem).
    this.allow(processor, this.journalTable, ['dynamodb:UpdateItem', 'dynamodb:PutItem']);
    processor.addToRolePolicy(new PolicyStatement({ actions: ['dynamodb:Query'], resources: [`${this.ordersTable.tableArn}/index/${ordersTable.paymentIntentIndex}`] }));
    // Subscription events: fetched from Stripe, applied with conditional writes, the guard released by its holder.
    this.allow(processor, this.subscriptionsTable, ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem']);
    processor.addToRolePolicy(new PolicyStatement({ actions: ['dynamodb:Query'], resources: [`${this.subscriptionsTable.tableArn}/index/${subscriptionsTable.stripeSubscriptionIndex}`] }));

    // Resolves unknown outcomes from Stripe: reservations and pending sessions (recovery/create-recovery.ts).
    const recoveryTimeout = Duration.minutes(5);
    const recovery = new PaymentsFunction(this, 'RecoveryFunction', {
      ...shared,
      handlerFolder: 'recovery',
      timeout: recoveryTimeout,
      reservedConcurrentExecutions: 1, // one run at a time; a slow run is never overlapped by the next
      environment: { ORDERS_TABLE_NAME: this.ordersTable.tableName, ...stripeClientEnvironment(recoveryTimeout), STRIPE_API_KEY_SECRET_NAME: config.stripeApiKeySecretName, RECOVERY_GRACE_SECONDS: '600' },
    });
    this.allow(recovery, this.ordersTable, ['dynamodb:GetItem', 'dynamodb:PutItem']);
    recovery.addToRolePolicy(new PolicyStatement({ actions: ['dynamodb:Scan'], resources: [`${this.ordersTable.tableArn}/index/${ordersTable.recoveryIndex}`] }));
    this.allowSecret(recovery, config.stripeApiKeySecretName);
    new Rule(this, 'RecoverySchedule', { schedule: Schedule.rate(Duration.minutes(5)), targets: [new LambdaFunction(recovery, { retryAttempts: 0 })] });

    const webhooks = new PaymentsFunction(this, 'WebhooksFunction', {
      ...shared,
      handlerFolder: 'webhooks',
      environment: { EVENTS_QUEUE_URL: this.events.queue.queueUrl, STRIPE_WEBHOOK_SECRET_NAME: config.stripeWebhookSecretName },
    });
    webhooks.addToRolePolicy(new PolicyStatement({ actions: ['sqs:SendMessage'], resources: [this.events.queue.queueArn] }));
    this.allowKey(webhooks, ['kms:GenerateDataKey', 'kms:Decrypt']);
    this.allowSecret(webhooks, config.stripeWebhookSecretName);

    // Serves the problem type pages every problem response links to; no data, no grants.
    const problems = new PaymentsFunction(this, 'ProblemsFunction', { logRetention, logLevel: shared.logLevel, handlerFolder: 'problems', memorySize: 128 });

    this.functions = { checkout, orders, refunds, subscriptions, webhooks, problems, events: processor, recovery };
    // The functions behind browser routes echo allowed origins (API Gateway adds no CORS header
    // to a proxy response); the webhook receiver, the processor and recovery get nothing.
    if (config.corsAllowedOrigins.length > 0) {
      for (const name of new Set(routes.filter((route) => !route.serverToServer).map((route) => route.handler))) {
        this.functions[name].addEnvironment(CORS_ALLOWED_ORIGINS_ENV, config.corsAllowedOrigins.join(','));
      }
    }
    for (const fn of Object.values(this.functions)) {
      Validations.of(fn).acknowledge({ id: 'AwsSolutions-L1', reason: 'Pinned to Node.js 22 on purpose: the runtime the code is tested on (with Node 20 locally); upgrades are a deliberate change.' });
      Validations.of(fn.role!).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions.',
      });
    }

    this.api = new PaymentsApi(this, 'Http', {
      handlers: { checkout, orders, refunds, subscriptions, webhooks, problems },
      userPool,
      stageName: config.stage,
      logRetention,
      throttle: config.apiThrottle,
      webhookThrottle: config.webhookThrottle,
      waf: config.enableWaf ? { requestsPerIpPer5Minutes: config.wafRequestsPerIpPer5Minutes, stripeWebhookCidrs: config.stripeWebhookCidrs } : undefined,
      accountCloudWatchRole: config.apiGatewayCloudWatchRole,
      corsAllowedOrigins: config.corsAllowedOrigins,
    });
    this.operations = new Operations(this, 'Operations', {
      api: this.api.restApi,
      events: this.events,
      processor,
      alarmEmail: config.alarmEmail,
      encryptionKey: this.encryptionKey,
      noWebhooksAlarmHours: config.noWebhooksAlarmHours,
    });

    const webhookRoute = routes.find((r) => r.handler === 'webhooks')!;
    const outputs: StackOutputs = {
      ApiUrl: this.api.restApi.url,
      WebhookUrl: this.api.restApi.urlForPath(webhookRoute.resource),
      UserPoolId: userPool.userPoolId,
      AppClientIds: appClientIds,
      StripeApiKeySecretName: config.stripeApiKeySecretName,
      StripeWebhookSecretName: config.stripeWebhookSecretName,
      AlarmTopicArn: this.operations.alarmTopic.topicArn,
    };
    for (const [name, value] of Object.entries(outputs)) new CfnOutput(this, name, { value });
    new CfnOutput(this, 'IdempotencyTableName', { value: this.idempotencyTable.tableName });
    new CfnOutput(this, 'OrdersTableName', { value: this.ordersTable.tableName });
    new CfnOutput(this, 'JournalTableName', { value: this.journalTable.tableName });
    new CfnOutput(this, 'SubscriptionsTableName', { value: this.subscriptionsTable.tableName });
    new CfnOutput(this, 'EventsQueueUrl', { value: this.events.queue.queueUrl });
    new CfnOutput(this, 'EventsDeadLetterQueueUrl', { value: this.events.deadLetterQueue.queueUrl });
  }

  /** Exactly these actions on exactly this table, nothing wider. */
  private allow(fn: PaymentsFunction, table: Table, actions: string[]) {
    fn.addToRolePolicy(new PolicyStatement({ actions, resources: [table.tableArn] }));
    this.allowTableKey(fn, actions);
  }

  /** Powertools' actions on the idempotency table, on the records of this function's prefix only. */
  private allowIdempotency(fn: PaymentsFunction, keyPrefix: string) {
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: IDEMPOTENCY_ACTIONS,
        resources: [this.idempotencyTable.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${keyPrefix}#*`] } },
      }),
    );
    this.allowTableKey(fn, IDEMPOTENCY_ACTIONS);
  }

  /** With kmsEncryption: what DynamoDB needs of the caller for those table actions (no kms:Encrypt). */
  private allowTableKey(fn: PaymentsFunction, tableActions: string[]) {
    const writes = tableActions.some((a) => /PutItem|UpdateItem|DeleteItem/.test(a));
    this.allowKey(fn, writes ? ['kms:Decrypt', 'kms:DescribeKey', 'kms:GenerateDataKey'] : ['kms:Decrypt', 'kms:DescribeKey']);
  }

  /** With kmsEncryption, the named key actions (no wildcards) on the data key. */
  private allowKey(fn: PaymentsFunction, actions: string[]) {
    if (this.encryptionKey) fn.addToRolePolicy(new PolicyStatement({ actions, resources: [this.encryptionKey.keyArn] }));
  }

  /** GetSecretValue on the named secret (Secrets Manager appends six random characters to its ARN), nothing else. */
  private allowSecret(fn: PaymentsFunction, secretName: string) {
    fn.addToRolePolicy(
      new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [`arn:${Aws.PARTITION}:secretsmanager:${Aws.REGION}:${Aws.ACCOUNT_ID}:secret:${secretName}-??????`] }),
    );
  }

  private table(id: string, schema: TableSchema, config: PaymentsStackConfig): Table {
    const table = new Table(this, id, {
      partitionKey: { name: schema.partitionKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: schema.ttlAttribute,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      ...(this.encryptionKey ? { encryption: TableEncryption.CUSTOMER_MANAGED, encryptionKey: this.encryptionKey } : { encryption: TableEncryption.AWS_MANAGED }),
      deletionProtection: config.stage === 'prod',
      removalPolicy: config.removeTablesOnDelete ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    });
    for (const index of schema.indexes) {
      table.addGlobalSecondaryIndex({ indexName: index.name, partitionKey: { name: index.partitionKey, type: AttributeType.STRING }, projectionType: ProjectionType.KEYS_ONLY });
    }
    return table;
  }

  /** The user pool and the app clients whose ID tokens the handlers accept (comma-separated). */
  private identity(config: PaymentsStackConfig): { userPool: IUserPool; appClientIds: string } {
    if (config.cognitoUserPoolArn) {
      // Settings of a pool we do not own are checked after deploy by `npm run doctor`.
      return { userPool: UserPool.fromUserPoolArn(this, 'UserPool', config.cognitoUserPoolArn), appClientIds: config.cognitoAppClientIds.join(',') };
    }
    const pool = new UserPool(this, 'UserPool', {
      selfSignUpEnabled: false,
      signInAliases: { email: true },
      // The tenant is assigned by an administrator and cannot be changed by its user.
      customAttributes: { tenant_id: new StringAttribute({ mutable: false, minLen: 1, maxLen: 128 }) },
      passwordPolicy: { minLength: 12, requireDigits: true, requireLowercase: true, requireUppercase: true, requireSymbols: true },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(pool).acknowledge({ id: 'AwsSolutions-COG2', reason: 'MFA policy belongs to the identity team that owns the pool; production deployments pass their own pool with cognitoUserPoolArn.' });
    Validations.of(pool).acknowledge({ id: 'AwsSolutions-COG8', reason: 'The Plus feature plan (threat protection) is a per-user cost decision for the deployer; pass a Plus pool with cognitoUserPoolArn.' });
    return { userPool: pool, appClientIds: this.appClient(pool).userPoolClientId };
  }

  /**
   * The API's app client: no secret (a CLI or browser cannot keep one), ID tokens carrying the
   * tenant, which the client may read but never write (the pool attribute is immutable too).
   * Admin password auth lets `npm run user:token` sign in; no OAuth/hosted UI.
   */
  private appClient(pool: UserPool) {
    return pool.addClient('AppClient', {
      generateSecret: false,
      authFlows: { adminUserPassword: true, userSrp: true },
      disableOAuth: true,
      preventUserExistenceErrors: true,
      idTokenValidity: Duration.hours(1),
      accessTokenValidity: Duration.hours(1),
      refreshTokenValidity: Duration.days(1),
      readAttributes: new ClientAttributes().withStandardAttributes({ email: true, emailVerified: true }).withCustomAttributes('tenant_id'),
      writeAttributes: new ClientAttributes().withStandardAttributes({ fullname: true }),
    });
  }
}

/**
 * The Stripe client's timeout and retries for a function with this timeout, refused at synth
 * if Stripe's worst case (every attempt timing out, plus back-off) would not leave the margin.
 */
export function stripeClientEnvironment(functionTimeout: Duration, client = STRIPE_CLIENT_DEFAULTS): Record<string, string> {
  const budgetMs = stripeCallBudgetMs(client);
  if (budgetMs + NON_STRIPE_MARGIN_MS > functionTimeout.toMilliseconds()) {
    throw new Error(`Stripe client budget ${budgetMs} ms + ${NON_STRIPE_MARGIN_MS} ms margin exceeds the function timeout ${functionTimeout.toMilliseconds()} ms`);
  }
  return { STRIPE_TIMEOUT_MS: String(client.timeoutMs), STRIPE_MAX_NETWORK_RETRIES: String(client.maxNetworkRetries) };
}
