import { CfnOutput, Duration, RemovalPolicy, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import { StringAttribute, UserPool, type IUserPool } from 'aws-cdk-lib/aws-cognito';
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import type { PaymentsStackConfig } from './config';
import { Operations } from './constructs/operations';
import { PaymentsApi } from './constructs/payments-api';
import { PaymentsFunction } from './constructs/payments-function';
import { ProcessedQueue } from './constructs/processed-queue';
import type { HandlerName } from './routes';
import { idempotencyTable, ordersTable, subscriptionsTable, type TableSchema } from './tables';

export interface PaymentsStackProps extends StackProps {
  readonly config: PaymentsStackConfig;
}

/** What Powertools idempotency does to its table. */
const IDEMPOTENCY_ACTIONS = ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'];

export class PaymentsStack extends Stack {
  readonly api: PaymentsApi;
  readonly idempotencyTable: Table;
  readonly ordersTable: Table;
  readonly subscriptionsTable: Table;
  readonly functions: Record<HandlerName | 'events', PaymentsFunction>;
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
      this.encryptionKey.grant(new ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    }
    this.idempotencyTable = this.table('IdempotencyTable', idempotencyTable, config);
    this.ordersTable = this.table('OrdersTable', ordersTable, config);
    this.subscriptionsTable = this.table('SubscriptionsTable', subscriptionsTable, config);
    const stripeSecret = Secret.fromSecretNameV2(this, 'StripeSecret', config.stripeSecretName);

    const shared = {
      logRetention,
      logLevel: prod ? 'INFO' : 'DEBUG',
      tables: { ORDERS_TABLE_NAME: this.ordersTable.tableName, IDEMPOTENCY_TABLE_NAME: this.idempotencyTable.tableName },
    };
    // API Gateway gives up after 29 s; leave room for Stripe's own timeout and one retry.
    const stripeTimeout = Duration.seconds(25);

    const checkout = new PaymentsFunction(this, 'CheckoutFunction', {
      ...shared,
      handlerFolder: 'checkout',
      timeout: stripeTimeout,
      environment: { ...shared.tables, STRIPE_SECRET_NAME: config.stripeSecretName, CHECKOUT_IDEMPOTENCY_TTL_SECONDS: String(config.checkoutIdempotencyTtlSeconds) },
    });
    this.allow(checkout, this.idempotencyTable, IDEMPOTENCY_ACTIONS);
    this.allow(checkout, this.ordersTable, ['dynamodb:PutItem', 'dynamodb:GetItem']);
    stripeSecret.grantRead(checkout);

    const orders = new PaymentsFunction(this, 'OrdersFunction', { ...shared, handlerFolder: 'orders', environment: { ORDERS_TABLE_NAME: this.ordersTable.tableName } });
    this.allow(orders, this.ordersTable, ['dynamodb:GetItem']);

    const refunds = new PaymentsFunction(this, 'RefundsFunction', {
      ...shared,
      handlerFolder: 'refunds',
      timeout: stripeTimeout,
      environment: { ...shared.tables, STRIPE_SECRET_NAME: config.stripeSecretName, REFUND_IDEMPOTENCY_TTL_SECONDS: String(config.refundIdempotencyTtlSeconds) },
    });
    this.allow(refunds, this.idempotencyTable, IDEMPOTENCY_ACTIONS);
    this.allow(refunds, this.ordersTable, ['dynamodb:GetItem', 'dynamodb:UpdateItem']);
    stripeSecret.grantRead(refunds);

    const subscriptions = new PaymentsFunction(this, 'SubscriptionsFunction', {
      ...shared,
      handlerFolder: 'subscriptions',
      timeout: stripeTimeout,
      environment: {
        IDEMPOTENCY_TABLE_NAME: this.idempotencyTable.tableName, SUBSCRIPTIONS_TABLE_NAME: this.subscriptionsTable.tableName,
        STRIPE_SECRET_NAME: config.stripeSecretName, CHECKOUT_IDEMPOTENCY_TTL_SECONDS: String(config.checkoutIdempotencyTtlSeconds),
      },
    });
    this.allow(subscriptions, this.idempotencyTable, IDEMPOTENCY_ACTIONS);
    this.allow(subscriptions, this.subscriptionsTable, ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:Query'], subscriptionsTable.ownerIndex);
    stripeSecret.grantRead(subscriptions);

    const processorTimeout = Duration.seconds(30);
    const processor = new PaymentsFunction(this, 'EventsFunction', {
      ...shared,
      handlerFolder: 'events',
      timeout: processorTimeout,
      environment: {
        ...shared.tables, SUBSCRIPTIONS_TABLE_NAME: this.subscriptionsTable.tableName, STRIPE_SECRET_NAME: config.stripeSecretName,
        STRIPE_EVENT_IDEMPOTENCY_TTL_SECONDS: String(config.stripeEventIdempotencyTtlSeconds),
      },
    });
    this.events = new ProcessedQueue(this, 'StripeEvents', { consumerTimeout: processorTimeout, maxReceiveCount: config.maxReceiveCount, encryptionKey: this.encryptionKey });
    processor.addEventSource(new SqsEventSource(this.events.queue, { batchSize: 10, maxBatchingWindow: Duration.seconds(1), reportBatchItemFailures: true }));
    this.allow(processor, this.idempotencyTable, IDEMPOTENCY_ACTIONS);
    this.allow(processor, this.ordersTable, ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:Query'], ordersTable.paymentIntentIndex);
    // Subscription events: fetched from Stripe, applied with conditional writes, the guard released by its holder.
    this.allow(processor, this.subscriptionsTable, ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:Query'], subscriptionsTable.stripeSubscriptionIndex);
    stripeSecret.grantRead(processor);

    const webhooks = new PaymentsFunction(this, 'WebhooksFunction', {
      ...shared,
      handlerFolder: 'webhooks',
      environment: { EVENTS_QUEUE_URL: this.events.queue.queueUrl, STRIPE_SECRET_NAME: config.stripeSecretName },
    });
    webhooks.addToRolePolicy(new PolicyStatement({ actions: ['sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'], resources: [this.events.queue.queueArn] }));
    this.allowKey(webhooks, ['kms:GenerateDataKey', 'kms:Decrypt']);
    stripeSecret.grantRead(webhooks);

    this.functions = { checkout, orders, refunds, subscriptions, webhooks, events: processor };
    for (const fn of Object.values(this.functions)) {
      Validations.of(fn).acknowledge({ id: 'AwsSolutions-L1', reason: 'Pinned to Node.js 22 on purpose: the runtime the code is tested on (with Node 20 locally); upgrades are a deliberate change.' });
      Validations.of(fn.role!).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions.',
      });
    }

    const userPool = this.userPool(config);
    this.api = new PaymentsApi(this, 'Http', {
      handlers: { checkout, orders, refunds, subscriptions, webhooks },
      userPool,
      stageName: config.stage,
      logRetention,
      throttle: config.apiThrottle,
      webhookThrottle: config.webhookThrottle,
      waf: config.enableWaf ? { requestsPerIpPer5Minutes: config.wafRequestsPerIpPer5Minutes } : undefined,
    });
    this.operations = new Operations(this, 'Operations', {
      api: this.api.restApi,
      events: this.events,
      processor,
      alarmEmail: config.alarmEmail,
      encryptionKey: this.encryptionKey,
    });

    new CfnOutput(this, 'ApiUrl', { value: this.api.restApi.url });
    new CfnOutput(this, 'IdempotencyTableName', { value: this.idempotencyTable.tableName });
    new CfnOutput(this, 'OrdersTableName', { value: this.ordersTable.tableName });
    new CfnOutput(this, 'SubscriptionsTableName', { value: this.subscriptionsTable.tableName });
    new CfnOutput(this, 'UserPoolId', { value: userPool.userPoolId });
    new CfnOutput(this, 'EventsQueueUrl', { value: this.events.queue.queueUrl });
    new CfnOutput(this, 'EventsDeadLetterQueueUrl', { value: this.events.deadLetterQueue.queueUrl });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.operations.alarmTopic.topicArn });
  }

  /** Exactly these actions on exactly this table (and the one index it queries), nothing wider. */
  private allow(fn: PaymentsFunction, table: Table, actions: string[], indexName?: string) {
    fn.addToRolePolicy(new PolicyStatement({ actions, resources: [table.tableArn, ...(indexName ? [`${table.tableArn}/index/${indexName}`] : [])] }));
    this.allowKey(fn, ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey']);
  }

  /** With kmsEncryption, the named key actions (no wildcards) on the data key. */
  private allowKey(fn: PaymentsFunction, actions: string[]) {
    if (this.encryptionKey) fn.addToRolePolicy(new PolicyStatement({ actions, resources: [this.encryptionKey.keyArn] }));
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

  private userPool(config: PaymentsStackConfig): IUserPool {
    if (config.cognitoUserPoolArn) return UserPool.fromUserPoolArn(this, 'UserPool', config.cognitoUserPoolArn);
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
    return pool;
  }
}
