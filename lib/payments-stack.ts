import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import {
  AccessLogFormat,
  AuthorizationType,
  CognitoUserPoolsAuthorizer,
  EndpointType,
  LambdaIntegration,
  LogGroupLogDestination,
  MethodLoggingLevel,
  RestApi,
  type IResource,
} from 'aws-cdk-lib/aws-apigateway';
import { StringAttribute, UserPool, type IUserPool } from 'aws-cdk-lib/aws-cognito';
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import type { PaymentsStackConfig } from './config';
import { PaymentsFunction } from './constructs/payments-function';
import { ProcessedQueue } from './constructs/processed-queue';
import { routes, type HandlerName } from './routes';
import { idempotencyTable, ordersTable, type TableSchema } from './tables';

export interface PaymentsStackProps extends StackProps {
  readonly config: PaymentsStackConfig;
}

/** DynamoDB actions each handler performs; grants are exactly these, on exactly its tables. */
const IDEMPOTENCY_ACTIONS = ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'];

export class PaymentsStack extends Stack {
  readonly api: RestApi;
  readonly idempotencyTable: Table;
  readonly ordersTable: Table;
  readonly functions: Record<HandlerName | 'events', PaymentsFunction>;
  readonly events: ProcessedQueue;

  constructor(scope: Construct, id: string, props: PaymentsStackProps) {
    super(scope, id, props);
    const { config } = props;
    const prod = config.stage === 'prod';
    const logRetention = prod ? RetentionDays.ONE_YEAR : RetentionDays.ONE_MONTH;

    this.idempotencyTable = this.table('IdempotencyTable', idempotencyTable, config);
    this.ordersTable = this.table('OrdersTable', ordersTable, config);
    const stripeSecret = Secret.fromSecretNameV2(this, 'StripeSecret', config.stripeSecretName);

    const shared = {
      logRetention,
      logLevel: prod ? 'INFO' : 'DEBUG',
      environment: {
        ORDERS_TABLE_NAME: this.ordersTable.tableName,
        IDEMPOTENCY_TABLE_NAME: this.idempotencyTable.tableName,
      },
    };
    const checkout = new PaymentsFunction(this, 'CheckoutFunction', {
      ...shared,
      handlerFolder: 'checkout',
      // API Gateway gives up after 29 s; leave room for Stripe's own timeout and one retry.
      timeout: Duration.seconds(25),
      environment: {
        ...shared.environment,
        STRIPE_SECRET_NAME: config.stripeSecretName,
        CHECKOUT_IDEMPOTENCY_TTL_SECONDS: String(config.checkoutIdempotencyTtlSeconds),
      },
    });
    this.idempotencyTable.grant(checkout, ...IDEMPOTENCY_ACTIONS);
    this.ordersTable.grant(checkout, 'dynamodb:PutItem', 'dynamodb:GetItem');
    stripeSecret.grantRead(checkout);

    const orders = new PaymentsFunction(this, 'OrdersFunction', {
      ...shared,
      handlerFolder: 'orders',
      environment: { ORDERS_TABLE_NAME: this.ordersTable.tableName },
    });
    this.ordersTable.grant(orders, 'dynamodb:GetItem');

    const refunds = new PaymentsFunction(this, 'RefundsFunction', {
      ...shared,
      handlerFolder: 'refunds',
      timeout: Duration.seconds(25),
      environment: {
        ...shared.environment,
        STRIPE_SECRET_NAME: config.stripeSecretName,
        REFUND_IDEMPOTENCY_TTL_SECONDS: String(config.refundIdempotencyTtlSeconds),
      },
    });
    this.idempotencyTable.grant(refunds, ...IDEMPOTENCY_ACTIONS);
    this.ordersTable.grant(refunds, 'dynamodb:GetItem', 'dynamodb:UpdateItem');
    stripeSecret.grantRead(refunds);

    const processorTimeout = Duration.seconds(30);
    const processor = new PaymentsFunction(this, 'EventsFunction', {
      ...shared,
      handlerFolder: 'events',
      timeout: processorTimeout,
      environment: {
        ...shared.environment,
        STRIPE_EVENT_IDEMPOTENCY_TTL_SECONDS: String(config.stripeEventIdempotencyTtlSeconds),
      },
    });
    this.events = new ProcessedQueue(this, 'StripeEvents', { consumerTimeout: processorTimeout, maxReceiveCount: config.maxReceiveCount });
    processor.addEventSource(
      new SqsEventSource(this.events.queue, { batchSize: 10, maxBatchingWindow: Duration.seconds(1), reportBatchItemFailures: true }),
    );
    this.idempotencyTable.grant(processor, ...IDEMPOTENCY_ACTIONS);
    this.ordersTable.grant(processor, 'dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:Query');

    const webhooks = new PaymentsFunction(this, 'WebhooksFunction', {
      ...shared,
      handlerFolder: 'webhooks',
      environment: { EVENTS_QUEUE_URL: this.events.queue.queueUrl, STRIPE_SECRET_NAME: config.stripeSecretName },
    });
    this.events.queue.grantSendMessages(webhooks);
    stripeSecret.grantRead(webhooks);

    this.functions = { checkout, orders, refunds, webhooks, events: processor };

    const userPool = this.userPool(config);
    const authorizer = new CognitoUserPoolsAuthorizer(this, 'Authorizer', { cognitoUserPools: [userPool] });
    const accessLogs = new LogGroup(this, 'ApiAccessLogs', { retention: logRetention, removalPolicy: RemovalPolicy.DESTROY });
    this.api = new RestApi(this, 'Api', {
      restApiName: `${id}-api`,
      endpointTypes: [EndpointType.REGIONAL],
      deployOptions: {
        stageName: config.stage,
        tracingEnabled: true,
        metricsEnabled: true,
        loggingLevel: MethodLoggingLevel.ERROR,
        dataTraceEnabled: false, // full request logging would write bodies and tokens to logs
        accessLogDestination: new LogGroupLogDestination(accessLogs),
        accessLogFormat: AccessLogFormat.jsonWithStandardFields(),
      },
      cloudWatchRole: true,
    });
    for (const route of routes) {
      const resource = route.resource.split('/').filter(Boolean).reduce<IResource>((parent, part) => parent.getResource(part) ?? parent.addResource(part), this.api.root);
      resource.addMethod(route.method, new LambdaIntegration(this.functions[route.handler]), route.authorized
        ? { authorizer, authorizationType: AuthorizationType.COGNITO }
        : { authorizationType: AuthorizationType.NONE });
    }

    new CfnOutput(this, 'ApiUrl', { value: this.api.url });
    new CfnOutput(this, 'IdempotencyTableName', { value: this.idempotencyTable.tableName });
    new CfnOutput(this, 'OrdersTableName', { value: this.ordersTable.tableName });
    new CfnOutput(this, 'UserPoolId', { value: userPool.userPoolId });
    new CfnOutput(this, 'EventsQueueUrl', { value: this.events.queue.queueUrl });
    new CfnOutput(this, 'EventsDeadLetterQueueUrl', { value: this.events.deadLetterQueue.queueUrl });
  }

  private table(id: string, schema: TableSchema, config: PaymentsStackConfig): Table {
    const table = new Table(this, id, {
      partitionKey: { name: schema.partitionKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: schema.ttlAttribute,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      deletionProtection: config.stage === 'prod',
      removalPolicy: config.removeTablesOnDelete ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    });
    for (const index of schema.indexes) {
      table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: { name: index.partitionKey, type: AttributeType.STRING },
        projectionType: ProjectionType.KEYS_ONLY,
      });
    }
    return table;
  }

  private userPool(config: PaymentsStackConfig): IUserPool {
    if (config.cognitoUserPoolArn) return UserPool.fromUserPoolArn(this, 'UserPool', config.cognitoUserPoolArn);
    return new UserPool(this, 'UserPool', {
      selfSignUpEnabled: false,
      signInAliases: { email: true },
      // The tenant is assigned by an administrator and cannot be changed by its user.
      customAttributes: { tenant_id: new StringAttribute({ mutable: false, minLen: 1, maxLen: 128 }) },
      passwordPolicy: { minLength: 12, requireDigits: true, requireLowercase: true, requireUppercase: true, requireSymbols: true },
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
}
