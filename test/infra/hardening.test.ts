import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { configFromContext } from '../../lib/config';
import { PaymentsStack } from '../../lib/payments-stack';
import { routes } from '../../lib/routes';

function synth(context: Record<string, unknown> = {}) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } });
  const stack = new PaymentsStack(app, 'Test', { config: configFromContext(app.node) });
  return { stack, template: Template.fromStack(stack) };
}

const dev = synth();
const prod = synth({ stage: 'prod', kmsEncryption: 'true', enableWaf: 'true', alarmEmail: 'oncall@example.com', apiThrottleRateLimit: '40', webhookThrottleRateLimit: '7' });
const values = (template: Template, type: string) => Object.values(template.findResources(type));

describe('API', () => {
  it('validates checkout and refund bodies against the OpenAPI schemas', () => {
    dev.template.hasResourceProperties('AWS::ApiGateway::RequestValidator', { ValidateRequestBody: true });
    dev.template.hasResourceProperties('AWS::ApiGateway::Model', {
      Name: 'CheckoutRequest',
      ContentType: 'application/json',
      Schema: Match.objectLike({ $schema: 'http://json-schema.org/draft-04/schema#', additionalProperties: false, required: ['lineItems', 'successUrl', 'cancelUrl'] }),
    });
    dev.template.hasResourceProperties('AWS::ApiGateway::Model', { Name: 'RefundRequest', Schema: Match.objectLike({ additionalProperties: false, required: ['orderId'] }) });
    const validated = values(dev.template, 'AWS::ApiGateway::Method').filter((m) => m.Properties.RequestValidatorId);
    expect(validated).toHaveLength(routes.filter((r) => r.bodySchema).length);
  });

  it('answers its own errors (401, 404, 413, 429, validation, 5xx) as problem+json', () => {
    const responses = values(dev.template, 'AWS::ApiGateway::GatewayResponse');
    const byType = Object.fromEntries(responses.map((r) => [r.Properties.ResponseType, r.Properties]));
    for (const [type, status] of Object.entries({ UNAUTHORIZED: '401', MISSING_AUTHENTICATION_TOKEN: '404', REQUEST_TOO_LARGE: '413', THROTTLED: '429', BAD_REQUEST_BODY: '400' })) {
      expect(byType[type]).toMatchObject({ StatusCode: status, ResponseParameters: { 'gatewayresponse.header.Content-Type': "'application/problem+json'" } });
      const body = byType[type].ResponseTemplates['application/json'] as string;
      expect(body).toMatch(/^\{"type":"urn:payments:problem:[a-z-]+"/);
    }
    expect(byType.THROTTLED.ResponseParameters['gatewayresponse.header.Retry-After']).toBe("'1'");
    expect(byType.DEFAULT_5XX).toBeDefined();
    expect(byType.DEFAULT_4XX).toBeDefined();
  });

  it('throttles the stage and, separately, the webhook route, from context', () => {
    prod.template.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'prod',
      MethodSettings: Match.arrayWith([
        Match.objectLike({ HttpMethod: '*', ResourcePath: '/*', ThrottlingRateLimit: 40, ThrottlingBurstLimit: 200 }),
        Match.objectLike({ HttpMethod: 'POST', ResourcePath: '/~1v1~1webhooks~1stripe', ThrottlingRateLimit: 7 }),
      ]),
      AccessLogSetting: Match.objectLike({ DestinationArn: Match.anyValue() }),
      TracingEnabled: true,
    });
  });

  it('has WAF only when asked: rate limit per IP, body size (webhooks exempt), known bad inputs', () => {
    expect(values(dev.template, 'AWS::WAFv2::WebACL')).toHaveLength(0);
    const [acl] = values(prod.template, 'AWS::WAFv2::WebACL');
    const rules = Object.fromEntries(acl.Properties.Rules.map((r: any) => [r.Name, r]));
    expect(rules.RateLimitPerIp.Statement.RateBasedStatement).toEqual({ Limit: 2000, AggregateKeyType: 'IP' });
    expect(JSON.stringify(rules.BodySizeLimit.Statement)).toContain('/v1/webhooks/stripe');
    expect(rules.KnownBadInputs.Statement.ManagedRuleGroupStatement.Name).toBe('AWSManagedRulesKnownBadInputsRuleSet');
    prod.template.resourceCountIs('AWS::WAFv2::WebACLAssociation', 1);
  });
});

describe('encryption and data protection', () => {
  it('uses a rotating customer key for tables, queues and the alarm topic when kmsEncryption is set', () => {
    prod.template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    for (const table of values(prod.template, 'AWS::DynamoDB::Table')) expect(table.Properties.SSESpecification).toMatchObject({ SSEEnabled: true, SSEType: 'KMS' });
    for (const queue of values(prod.template, 'AWS::SQS::Queue')) expect(queue.Properties.KmsMasterKeyId).toBeDefined();
    prod.template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
  });

  it('protects tables from deletion in prod only', () => {
    for (const table of values(prod.template, 'AWS::DynamoDB::Table')) expect(table.Properties.DeletionProtectionEnabled).toBe(true);
    for (const table of values(dev.template, 'AWS::DynamoDB::Table')) expect(table.Properties.DeletionProtectionEnabled).toBe(false);
  });

  it('keeps logs a year in prod, a month in dev, and logs at INFO in prod', () => {
    const retentions = (t: Template) => new Set(values(t, 'AWS::Logs::LogGroup').map((g) => g.Properties.RetentionInDays));
    expect([...retentions(prod.template)]).toEqual([365]);
    expect([...retentions(dev.template)]).toEqual([30]);
    const levels = (t: Template) => new Set(values(t, 'AWS::Lambda::Function').map((f) => f.Properties.Environment?.Variables?.POWERTOOLS_LOG_LEVEL).filter(Boolean));
    expect([...levels(prod.template)]).toEqual(['INFO']);
    expect([...levels(dev.template)]).toEqual(['DEBUG']);
  });
});

describe('operations', () => {
  it('notifies one SNS topic (TLS only, email from context) from every alarm', () => {
    prod.template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com' });
    expect(values(dev.template, 'AWS::SNS::Subscription')).toHaveLength(0);
    const topicPolicy = values(dev.template, 'AWS::SNS::TopicPolicy')[0];
    expect(JSON.stringify(topicPolicy.Properties.PolicyDocument)).toContain('aws:SecureTransport');
    const topicId = Object.keys(dev.template.findResources('AWS::SNS::Topic'))[0];
    const alarms = values(dev.template, 'AWS::CloudWatch::Alarm');
    expect(alarms).toHaveLength(5);
    for (const alarm of alarms) {
      expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topicId }]);
      expect(alarm.Properties.AlarmDescription).toMatch(/RUNBOOK\.md#[a-z0-9-]+/);
    }
  });

  it('alarms on processor errors and on the API 5xx rate', () => {
    dev.template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Errors', Namespace: 'AWS/Lambda', Threshold: 0 });
    const rate = values(dev.template, 'AWS::CloudWatch::Alarm').find((a) => a.Properties.Metrics);
    expect(JSON.stringify(rate!.Properties.Metrics)).toContain('100 * errors / requests');
    expect(rate!.Properties.Threshold).toBe(1);
  });

  it('has a dashboard with the API, idempotency, webhook, processor and queue widgets', () => {
    const [dashboard] = values(dev.template, 'AWS::CloudWatch::Dashboard');
    const body = JSON.stringify(dashboard.Properties.DashboardBody);
    for (const needle of ['5XXError', '4XXError', 'Latency', 'IdempotentReplay', 'IdempotencyConflict', 'IdempotencyMismatch', 'WebhookReceived', 'StripeEventProcessed', 'StripeEventDuplicate', 'StripeEventFailed', 'ApproximateAgeOfOldestMessage', 'ApproximateNumberOfMessagesVisible']) {
      expect(body).toContain(needle);
    }
  });
});

it('every alarm anchor exists in docs/RUNBOOK.md', () => {
  const runbook = require('node:fs').readFileSync(require('node:path').join(__dirname, '..', '..', 'docs', 'RUNBOOK.md'), 'utf8') as string;
  const anchors = new Set([...runbook.matchAll(/^#+ (.+)$/gm)].map((m) => m[1].toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-')));
  for (const alarm of values(dev.template, 'AWS::CloudWatch::Alarm')) {
    const anchor = /RUNBOOK\.md#([a-z0-9-]+)/.exec(alarm.Properties.AlarmDescription)![1];
    expect(anchors).toContain(anchor);
  }
});
