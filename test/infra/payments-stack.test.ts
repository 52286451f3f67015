import { App, Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { configFromContext } from '../../lib/config';
import { EVENTS_QUEUE_MAX_MESSAGE_BYTES } from '../../lib/limits';
import { PaymentsStack, stripeClientEnvironment } from '../../lib/payments-stack';
import { stripeCallBudgetMs } from '../../lambdas/shared/stripe-time-budget';
import { routes } from '../../lib/routes';

/** Synthesizes without bundling (esbuild output is not what these tests are about). */
function synth(context: Record<string, unknown> = {}) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } });
  const stack = new PaymentsStack(app, 'Test', { config: configFromContext(app.node) });
  return { stack, template: Template.fromStack(stack) };
}

const { stack, template } = synth();
const resources = (type: string) => template.findResources(type);
const functionLogicalId = (construct: { node: { defaultChild?: unknown } }) => stack.getLogicalId(construct.node.defaultChild as never);

/** The IAM statements attached (through policies) to one function's role. */
function statementsOf(fn: keyof PaymentsStack['functions']) {
  const roleRef = (stack.resolve((stack.functions[fn].role!.node.defaultChild as unknown as { ref: string }).ref) as { Ref: string }).Ref;
  return Object.values(resources('AWS::IAM::Policy'))
    .filter((policy) => (policy.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === roleRef))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[]);
}
const actionsOf = (fn: keyof PaymentsStack['functions']) => statementsOf(fn).flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action])).sort();

describe('tables', () => {
  it('idempotency table: key id, TTL on expiration, on-demand, PITR, retained', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      Properties: Match.objectLike({
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        TimeToLiveSpecification: { AttributeName: 'expiration', Enabled: true },
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
      }),
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it('subscriptions table: key pk, indexes by owner, by Stripe subscription and by guard claim (sparse), retained', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      Properties: Match.objectLike({
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        GlobalSecondaryIndexes: [
          Match.objectLike({ IndexName: 'byOwner', KeySchema: [{ AttributeName: 'ownerKey', KeyType: 'HASH' }] }),
          Match.objectLike({ IndexName: 'byStripeSubscription', KeySchema: [{ AttributeName: 'stripeSubscriptionId', KeyType: 'HASH' }] }),
          Match.objectLike({ IndexName: 'byGuardClaim', KeySchema: [{ AttributeName: 'guardClaimKey', KeyType: 'HASH' }], Projection: { ProjectionType: 'KEYS_ONLY' } }),
        ],
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      }),
      DeletionPolicy: 'Retain',
    });
  });

  it('orders table: key orderId, index by payment intent, retained', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      Properties: Match.objectLike({
        KeySchema: [{ AttributeName: 'orderId', KeyType: 'HASH' }],
        GlobalSecondaryIndexes: [
          Match.objectLike({ IndexName: 'byPaymentIntent', KeySchema: [{ AttributeName: 'paymentIntentId', KeyType: 'HASH' }] }),
          // Sparse: only orders waiting on Stripe carry recoveryDue (the recovery function's work list).
          Match.objectLike({ IndexName: 'byRecoveryDue', KeySchema: [{ AttributeName: 'recoveryDue', KeyType: 'HASH' }], Projection: { ProjectionType: 'KEYS_ONLY' } }),
        ],
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      }),
      DeletionPolicy: 'Retain',
    });
  });

  it('journal table: key entryId, TTL on expiresAt, keys-only index by order, PITR, retained', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      Properties: Match.objectLike({
        KeySchema: [{ AttributeName: 'entryId', KeyType: 'HASH' }],
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
        GlobalSecondaryIndexes: [Match.objectLike({ IndexName: 'byOrder', KeySchema: [{ AttributeName: 'orderId', KeyType: 'HASH' }], Projection: { ProjectionType: 'KEYS_ONLY' } })],
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      }),
      DeletionPolicy: 'Retain',
    });
  });

  it('removes tables on delete only when the context flag says so', () => {
    const destroyable = synth({ removeTablesOnDelete: 'true' }).template;
    expect(Object.values(destroyable.findResources('AWS::DynamoDB::Table')).map((t) => t.DeletionPolicy)).toEqual(['Delete', 'Delete', 'Delete', 'Delete']);
  });
});

describe('functions', () => {
  it('run Node.js 22 on arm64, with X-Ray and an explicit log group', () => {
    const functions = Object.values(resources('AWS::Lambda::Function')).filter((f) => f.Properties.Handler === 'index.handler');
    expect(functions).toHaveLength(Object.keys(stack.functions).length);
    for (const fn of functions) {
      expect(fn.Properties).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'], TracingConfig: { Mode: 'Active' } });
      expect(fn.Properties.LoggingConfig.LogGroup).toBeDefined();
    }
  });

  it('hold no secret in any environment value: only the secret name', () => {
    for (const fn of Object.values(resources('AWS::Lambda::Function'))) {
      const variables = (fn.Properties.Environment?.Variables ?? {}) as Record<string, unknown>;
      for (const [name, value] of Object.entries(variables)) {
        expect(name).not.toMatch(/^STRIPE_(SECRET_KEY|WEBHOOK_SECRET|API_KEY)$/);
        expect(JSON.stringify(value)).not.toMatch(/sk_(test|live)_|whsec_|rk_(test|live)_/);
      }
    }
  });

  it('name each function only its own secret: the API key for checkout and refunds, the signing secrets for webhooks', () => {
    const variables = (fn: keyof PaymentsStack['functions']) => resources('AWS::Lambda::Function')[functionLogicalId(stack.functions[fn])].Properties.Environment.Variables;
    for (const fn of ['checkout', 'refunds'] as const) {
      expect(variables(fn).STRIPE_API_KEY_SECRET_NAME).toBe('payments/dev/stripe-api-key');
      expect(variables(fn).STRIPE_WEBHOOK_SECRET_NAME).toBeUndefined();
    }
    expect(variables('webhooks').STRIPE_WEBHOOK_SECRET_NAME).toBe('payments/dev/stripe-webhook');
    expect(variables('webhooks').STRIPE_API_KEY_SECRET_NAME).toBeUndefined();
    const prodVariables = synth({ stage: 'prod' });
    const prodWebhooks = prodVariables.template.findResources('AWS::Lambda::Function')[prodVariables.stack.getLogicalId(prodVariables.stack.functions.webhooks.node.defaultChild as never)];
    expect(prodWebhooks.Properties.Environment.Variables.STRIPE_WEBHOOK_SECRET_NAME).toBe('payments/prod/stripe-webhook');
  });

  it("bound the Stripe client's worst case below the function timeout", () => {
    for (const fn of ['checkout', 'refunds'] as const) {
      const { Timeout, Environment } = resources('AWS::Lambda::Function')[functionLogicalId(stack.functions[fn])].Properties;
      const budgetMs = stripeCallBudgetMs({ timeoutMs: Number(Environment.Variables.STRIPE_TIMEOUT_MS), maxNetworkRetries: Number(Environment.Variables.STRIPE_MAX_NETWORK_RETRIES) });
      expect(budgetMs).toBeGreaterThan(0);
      expect(budgetMs + 5000).toBeLessThanOrEqual(Timeout * 1000);
      expect(Timeout).toBeLessThan(29); // API Gateway's integration timeout
    }
    // The old defaults (8 s x 3 attempts + back-off) did not fit in 25 s: refused at synth.
    expect(() => stripeClientEnvironment(Duration.seconds(25), { timeoutMs: 8000, maxNetworkRetries: 2 })).toThrow(/exceeds the function timeout/);
    expect(stripeCallBudgetMs({ timeoutMs: 8000, maxNetworkRetries: 2 })).toBe(25_500);
  });

  it('bound the processor: MaximumConcurrency on the queue, reserved concurrency from context', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { ScalingConfig: { MaximumConcurrency: 5 } });
    expect(resources('AWS::Lambda::Function')[functionLogicalId(stack.functions.events)].Properties.ReservedConcurrentExecutions).toBeUndefined();
    const limited = synth({ processorMaxConcurrency: '3', processorReservedConcurrency: '8' });
    limited.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { ScalingConfig: { MaximumConcurrency: 3 } });
    const limitedEvents = limited.template.findResources('AWS::Lambda::Function')[limited.stack.getLogicalId(limited.stack.functions.events.node.defaultChild as never)];
    expect(limitedEvents.Properties.ReservedConcurrentExecutions).toBe(8);
  });

  it('accept only ID tokens of the stack\'s app client (or the configured clients of an existing pool)', () => {
    const clientId = Object.keys(resources('AWS::Cognito::UserPoolClient'))[0];
    for (const fn of ['checkout', 'refunds', 'orders'] as const) {
      expect(resources('AWS::Lambda::Function')[functionLogicalId(stack.functions[fn])].Properties.Environment.Variables.COGNITO_APP_CLIENT_IDS).toEqual({ Ref: clientId });
    }
    const existing = synth({ cognitoUserPoolArn: 'arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbCdEf123', cognitoAppClientIds: 'web1,mobile2' });
    const checkoutFn = existing.template.findResources('AWS::Lambda::Function')[existing.stack.getLogicalId(existing.stack.functions.checkout.node.defaultChild as never)];
    expect(checkoutFn.Properties.Environment.Variables.COGNITO_APP_CLIENT_IDS).toBe('web1,mobile2');
    existing.template.hasOutput('AppClientIds', { Value: 'web1,mobile2' });
  });
});

describe('API', () => {
  it('puts every route of the route table behind its authorizer, the webhook and the problem pages behind none', () => {
    const methods = Object.values(resources('AWS::ApiGateway::Method')).filter((m) => m.Properties.HttpMethod !== 'OPTIONS');
    expect(methods).toHaveLength(routes.length);
    expect(routes.filter((r) => !r.authorized).map((r) => r.handler)).toEqual(['webhooks', 'problems', 'problems']);
    const authorizerId = Object.keys(resources('AWS::ApiGateway::Authorizer'))[0];
    const problemsFunctionId = functionLogicalId(stack.functions.problems);
    for (const method of methods) {
      const path = JSON.stringify(method.Properties.ResourceId);
      const isWebhook = method.Properties.HttpMethod === 'POST' && path.includes('stripe');
      const isProblemPage = JSON.stringify(method.Properties.Integration).includes(problemsFunctionId);
      if (isWebhook || isProblemPage) {
        expect(method.Properties.AuthorizationType).toBe('NONE');
      } else {
        expect(method.Properties).toMatchObject({ AuthorizationType: 'COGNITO_USER_POOLS', AuthorizerId: { Ref: authorizerId } });
      }
    }
    template.hasResourceProperties('AWS::ApiGateway::Authorizer', { Type: 'COGNITO_USER_POOLS' });
  });

  it('creates a user pool with an immutable tenant attribute, or uses the one given by ARN', () => {
    template.hasResourceProperties('AWS::Cognito::UserPool', {
      Schema: Match.arrayWith([Match.objectLike({ Name: 'tenant_id', Mutable: false })]),
      AdminCreateUserConfig: { AllowAdminCreateUserOnly: true },
    });
    const arn = 'arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbCdEf123';
    const existing = synth({ cognitoUserPoolArn: arn, cognitoAppClientIds: 'web1' }).template;
    existing.resourceCountIs('AWS::Cognito::UserPoolClient', 0);
    existing.resourceCountIs('AWS::Cognito::UserPool', 0);
    existing.hasResourceProperties('AWS::ApiGateway::Authorizer', { ProviderARNs: [arn] });
  });

  it('has an app client without secret that reads but cannot write the tenant, and no OAuth', () => {
    template.resourceCountIs('AWS::Cognito::UserPoolClient', 1);
    const [client] = Object.values(resources('AWS::Cognito::UserPoolClient'));
    expect(client.Properties.GenerateSecret).toBe(false);
    expect(client.Properties.ReadAttributes).toContain('custom:tenant_id');
    expect(client.Properties.WriteAttributes.length).toBeGreaterThan(0); // an empty list would mean "all writable"
    expect(client.Properties.WriteAttributes.some((a: string) => a.startsWith('custom:'))).toBe(false);
    expect(client.Properties.ExplicitAuthFlows).toEqual(expect.arrayContaining(['ALLOW_ADMIN_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH']));
    expect(client.Properties.ExplicitAuthFlows).not.toContain('ALLOW_USER_PASSWORD_AUTH');
    expect(client.Properties.AllowedOAuthFlowsUserPoolClient).toBe(false);
  });

  it('outputs what the deploy walkthrough, the user commands and the doctor read', () => {
    for (const output of ['ApiUrl', 'WebhookUrl', 'UserPoolId', 'AppClientIds', 'StripeApiKeySecretName', 'StripeWebhookSecretName', 'AlarmTopicArn', 'IdempotencyTableName', 'OrdersTableName', 'JournalTableName', 'EventsQueueUrl', 'EventsDeadLetterQueueUrl']) {
      template.hasOutput(output, {});
    }
    template.hasOutput('StripeWebhookSecretName', { Value: 'payments/dev/stripe-webhook' });
    expect(JSON.stringify(template.findOutputs('WebhookUrl'))).toContain('/v1/webhooks/stripe');
  });
});

describe('Stripe events queue', () => {
  const queues = () => Object.entries(resources('AWS::SQS::Queue'));
  const dlqId = () => queues().find(([id]) => id.includes('DeadLetter'))![0];
  const mainQueue = () => queues().find(([id]) => !id.includes('DeadLetter'))![1];

  it('redrives to the DLQ after 5 receives, configurable', () => {
    expect(mainQueue().Properties.RedrivePolicy).toEqual({ deadLetterTargetArn: { 'Fn::GetAtt': [dlqId(), 'Arn'] }, maxReceiveCount: 5 });
    const custom = synth({ maxReceiveCount: '8' }).template;
    const customMain = Object.entries(custom.findResources('AWS::SQS::Queue')).find(([id]) => !id.includes('DeadLetter'))![1];
    expect(customMain.Properties.RedrivePolicy.maxReceiveCount).toBe(8);
  });

  it('retains both queues on stack delete: they may hold unprocessed payment events', () => {
    for (const [, queue] of queues()) expect(queue).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
  });

  it('has a visibility timeout of at least 6x the processor timeout, and SSE on both queues', () => {
    const processorTimeout = resources('AWS::Lambda::Function')[functionLogicalId(stack.functions.events)].Properties.Timeout;
    expect(mainQueue().Properties.VisibilityTimeout).toBeGreaterThanOrEqual(6 * processorTimeout);
    for (const [, queue] of queues()) expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
  });

  it('sets MaximumMessageSize on both queues from the one constant the receiver and the local queues use', () => {
    expect(EVENTS_QUEUE_MAX_MESSAGE_BYTES).toBe(1_048_576);
    expect(queues().map(([, queue]) => queue.Properties.MaximumMessageSize)).toEqual([EVENTS_QUEUE_MAX_MESSAGE_BYTES, EVENTS_QUEUE_MAX_MESSAGE_BYTES]);
  });

  it('denies non-TLS access to both queues', () => {
    const policies = Object.values(resources('AWS::SQS::QueuePolicy'));
    expect(policies).toHaveLength(2);
    for (const policy of policies) {
      expect(policy.Properties.PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
  });

  it('feeds the processor in batches with ReportBatchItemFailures', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: functionLogicalId(stack.functions.events) },
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  it('alarms on DLQ depth > 0 and on the age of the oldest message', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlqId(), 'QueueName'] } }],
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ApproximateAgeOfOldestMessage', Threshold: 300 });
  });
});

describe('least privilege', () => {
  const IDEMPOTENCY = ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'];
  const SECRET = ['secretsmanager:GetSecretValue'];
  const XRAY = ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'];
  const LOGS = ['logs:CreateLogStream', 'logs:PutLogEvents'];

  it.each([
    ['checkout', [...IDEMPOTENCY, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', ...SECRET, ...XRAY, ...LOGS]],
    ['orders', ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', ...XRAY, ...LOGS]],
    ['refunds', [...IDEMPOTENCY, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', ...SECRET, ...XRAY, ...LOGS]],
    ['subscriptions', [...IDEMPOTENCY, ...IDEMPOTENCY, ...IDEMPOTENCY, 'dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', ...SECRET, ...XRAY, ...LOGS]],
    ['webhooks', ['sqs:SendMessage', ...SECRET, ...XRAY, ...LOGS]],
    [
      'events',
      [...IDEMPOTENCY, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:ReceiveMessage', 'sqs:SendMessage', ...SECRET, ...XRAY, ...LOGS],
    ],
    ['recovery', ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Scan', ...SECRET, ...XRAY, ...LOGS]],
  ] as const)('%s gets exactly the actions it uses', (fn, expected) => {
    expect(actionsOf(fn)).toEqual([...expected].sort());
  });

  it('grants no wildcard action, and wildcard resources only where AWS requires them (X-Ray)', () => {
    for (const fn of Object.keys(stack.functions) as (keyof PaymentsStack['functions'])[]) {
      for (const statement of statementsOf(fn)) {
        const actions = Array.isArray(statement.Action) ? statement.Action : [statement.Action];
        actions.forEach((action) => expect(action).not.toContain('*'));
        if (statement.Resource === '*') expect(actions.every((a) => a.startsWith('xray:'))).toBe(true);
      }
    }
  });

  it('scopes table actions to the table ARN, and Query to the one index it uses (never the table)', () => {
    const resourcesOf = (fn: keyof PaymentsStack['functions']) =>
      statementsOf(fn).filter((st) => JSON.stringify(st.Action).includes('dynamodb:')).flatMap((st) => (Array.isArray(st.Resource) ? st.Resource : [st.Resource]));
    const text = JSON.stringify(resourcesOf('events'));
    expect(text).toContain('/index/byPaymentIntent');
    expect(text).not.toContain('/index/*');
    expect(JSON.stringify(resourcesOf('checkout'))).not.toContain('/index/');
    const query = statementsOf('events').filter((st) => JSON.stringify(st.Action).includes('dynamodb:Query'));
    expect(query).toHaveLength(2); // the orders' byPaymentIntent and the subscriptions' byStripeSubscription
    for (const statement of query) expect(statement.Action).toBe('dynamodb:Query');
    expect(query.map((st) => JSON.stringify(st.Resource)).join()).toMatch(/\/index\/byPaymentIntent.*\/index\/byStripeSubscription/);
  });

  it('the webhook receiver can only send to the queue, and touches no table', () => {
    const statements = statementsOf('webhooks');
    expect(JSON.stringify(statements)).not.toContain('dynamodb');
    expect(actionsOf('webhooks')).not.toContain('sqs:ReceiveMessage');
  });

  it('the problem pages function may only write its logs and traces, and has no environment to leak', () => {
    expect(actionsOf('problems').filter((a) => !a.startsWith('xray:'))).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents']);
    const props = resources('AWS::Lambda::Function')[functionLogicalId(stack.functions.problems)].Properties;
    expect(Object.keys(props.Environment?.Variables ?? {}).filter((name) => !name.startsWith('POWERTOOLS_') && !name.startsWith('AWS_') && name !== 'NODE_OPTIONS')).toEqual([]);
  });
});
