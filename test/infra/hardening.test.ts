import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { configFromContext } from '../../lib/config';
import { PaymentsStack } from '../../lib/payments-stack';

function synth(context: Record<string, unknown> = {}) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } });
  const stack = new PaymentsStack(app, 'Test', { config: configFromContext(app.node) });
  return { stack, template: Template.fromStack(stack) };
}

const dev = synth();
const prod = synth({ stage: 'prod', kmsEncryption: 'true', enableWaf: 'true', alarmEmail: 'oncall@example.com', apiThrottleRateLimit: '40', webhookThrottleRateLimit: '7' });
const withStripeIps = synth({ enableWaf: 'true', stripeWebhookCidrs: '3.18.12.63/32,13.235.14.237/32,2600:1f18::/64', noWebhooksAlarmHours: '6' });
const values = (template: Template, type: string) => Object.values(template.findResources(type));

describe('API', () => {
  it('leaves body validation to the handlers, which answer a 400 with field pointers everywhere', () => {
    dev.template.resourceCountIs('AWS::ApiGateway::RequestValidator', 0);
    dev.template.resourceCountIs('AWS::ApiGateway::Model', 0);
    expect(values(dev.template, 'AWS::ApiGateway::GatewayResponse').map((r) => r.Properties.ResponseType)).not.toContain('BAD_REQUEST_BODY');
  });

  it('answers its own errors (401, 403, 404, 413, 429, 5xx) as problem+json', () => {
    const responses = values(dev.template, 'AWS::ApiGateway::GatewayResponse');
    const byType = Object.fromEntries(responses.map((r) => [r.Properties.ResponseType, r.Properties]));
    for (const [type, status] of Object.entries({ UNAUTHORIZED: '401', MISSING_AUTHENTICATION_TOKEN: '404', REQUEST_TOO_LARGE: '413', THROTTLED: '429', WAF_FILTERED: '403' })) {
      expect(byType[type]).toMatchObject({ StatusCode: status, ResponseParameters: { 'gatewayresponse.header.Content-Type': "'application/problem+json'" } });
      const body = byType[type].ResponseTemplates['application/json'] as string;
      expect(body).toMatch(/^\{"type":"urn:payments:problem:[a-z-]+"/);
    }
    expect(byType.THROTTLED.ResponseParameters['gatewayresponse.header.Retry-After']).toBe("'1'");
    // Cognito's own message in `detail`: the local API Gateway says the same for an expired token.
    expect(byType.UNAUTHORIZED.ResponseTemplates['application/json']).toMatch(/"detail":\$context\.error\.messageString\}$/);
    expect(byType.DEFAULT_5XX).toBeDefined();
    expect(byType.DEFAULT_4XX).toBeDefined();
  });

  it("links each of its own errors to the stage's page for that problem type (Link rel=describedby)", () => {
    const responses = values(dev.template, 'AWS::ApiGateway::GatewayResponse');
    expect(responses.length).toBeGreaterThanOrEqual(10);
    for (const { Properties: response } of responses) {
      const slug = /"type":"urn:payments:problem:([a-z-]+)"/.exec(response.ResponseTemplates['application/json'])![1];
      // A static value: API Gateway's stage URL, built from the API id, the region and the stage.
      const link = JSON.stringify(response.ResponseParameters['gatewayresponse.header.Link']);
      expect(link).toContain("'<https://");
      expect(link).toContain('.execute-api.');
      expect(link).toContain(`/dev/problems/${slug}>; rel=\\"describedby\\"'`);
    }
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

  it('has WAF only when asked: rate limit per IP, body size, known bad inputs, none of them on the webhook route', () => {
    expect(values(dev.template, 'AWS::WAFv2::WebACL')).toHaveLength(0);
    const [acl] = values(prod.template, 'AWS::WAFv2::WebACL');
    const rules = Object.fromEntries(acl.Properties.Rules.map((r: any) => [r.Name, r]));
    expect(Object.keys(rules).sort()).toEqual(['BodySizeLimit', 'KnownBadInputs', 'RateLimitPerIp']);
    const exemptsWebhook = { NotStatement: { Statement: { ByteMatchStatement: expect.objectContaining({ FieldToMatch: { UriPath: {} }, PositionalConstraint: 'ENDS_WITH', SearchString: '/v1/webhooks/stripe' }) } } };
    expect(rules.RateLimitPerIp.Statement.RateBasedStatement).toEqual({ Limit: 2000, AggregateKeyType: 'IP', ScopeDownStatement: exemptsWebhook });
    expect(rules.BodySizeLimit.Statement.AndStatement.Statements).toContainEqual(exemptsWebhook);
    expect(rules.KnownBadInputs.Statement.ManagedRuleGroupStatement).toEqual({ VendorName: 'AWS', Name: 'AWSManagedRulesKnownBadInputsRuleSet', ScopeDownStatement: exemptsWebhook });
    prod.template.resourceCountIs('AWS::WAFv2::WebACLAssociation', 1);
    prod.template.resourceCountIs('AWS::WAFv2::IPSet', 0);
  });

  it("with stripeWebhookCidrs, lets only Stripe's IPs (v4 and v6) call the webhook route", () => {
    const sets = Object.entries(withStripeIps.template.findResources('AWS::WAFv2::IPSet'));
    expect(sets.map(([, s]) => [s.Properties.IPAddressVersion, s.Properties.Addresses])).toEqual([
      ['IPV4', ['3.18.12.63/32', '13.235.14.237/32']],
      ['IPV6', ['2600:1f18::/64']],
    ]);
    const [acl] = values(withStripeIps.template, 'AWS::WAFv2::WebACL');
    const rule = acl.Properties.Rules.find((r: any) => r.Name === 'WebhookOnlyFromStripe');
    expect(rule.Action).toEqual({ Block: {} });
    const [webhookMatch, notFromStripe] = rule.Statement.AndStatement.Statements;
    expect(webhookMatch.ByteMatchStatement.SearchString).toBe('/v1/webhooks/stripe');
    expect(notFromStripe.NotStatement.Statement.OrStatement.Statements).toEqual(sets.map(([id]) => ({ IPSetReferenceStatement: { Arn: { 'Fn::GetAtt': [id, 'Arn'] } } })));
  });

  it('keeps execution logs in a log group of its own with a retention, and leaves the account CloudWatch role alone unless asked', () => {
    const executionLogs = values(dev.template, 'AWS::Logs::LogGroup').find((g) => JSON.stringify(g.Properties.LogGroupName ?? '').includes('API-Gateway-Execution-Logs_'));
    expect(executionLogs?.Properties.RetentionInDays).toBe(30);
    const stageId = Object.keys(dev.template.findResources('AWS::ApiGateway::Stage'))[0];
    const executionLogsId = Object.entries(dev.template.findResources('AWS::Logs::LogGroup')).find(([, g]) => g === executionLogs)![0];
    expect(dev.template.findResources('AWS::ApiGateway::Stage')[stageId].DependsOn).toContain(executionLogsId);
    dev.template.resourceCountIs('AWS::ApiGateway::Account', 0);
    const withRole = synth({ apiGatewayCloudWatchRole: 'true' }).template;
    withRole.resourceCountIs('AWS::ApiGateway::Account', 1);
    expect(Object.values(withRole.findResources('AWS::IAM::Role')).filter((r) => JSON.stringify(r).includes('AmazonAPIGatewayPushToCloudWatchLogs')).map((r) => r.DeletionPolicy)).toEqual(['Retain']);
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
    expect(alarms).toHaveLength(8);
    for (const alarm of alarms) {
      expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topicId }]);
      expect(alarm.Properties.AlarmDescription).toMatch(/RUNBOOK\.md#[a-z0-9-]+/);
    }
  });

  it('lets CloudWatch alarms of this account, and only those, publish to the topic (a topic policy replaces the default)', () => {
    const statements = values(dev.template, 'AWS::SNS::TopicPolicy')[0].Properties.PolicyDocument.Statement;
    const allow = statements.find((s: any) => s.Effect === 'Allow' && s.Principal?.Service === 'cloudwatch.amazonaws.com');
    expect(allow).toMatchObject({ Action: 'sns:Publish', Resource: { Ref: Object.keys(dev.template.findResources('AWS::SNS::Topic'))[0] } });
    expect(allow.Condition.StringEquals).toEqual({ 'aws:SourceAccount': { Ref: 'AWS::AccountId' } });
    expect(JSON.stringify(allow.Condition.ArnLike['aws:SourceArn'])).toContain(':alarm:*');
  });

  it('scopes the KMS key policy statement for CloudWatch to this account', () => {
    const [key] = values(prod.template, 'AWS::KMS::Key');
    const cloudWatch = key.Properties.KeyPolicy.Statement.filter((s: any) => JSON.stringify(s.Principal ?? {}).includes('cloudwatch.amazonaws.com'));
    expect(cloudWatch).toHaveLength(1);
    expect(cloudWatch[0].Condition.StringEquals).toEqual({ 'aws:SourceAccount': { Ref: 'AWS::AccountId' } });
    expect(cloudWatch[0].Action).not.toContain('kms:Encrypt');
    for (const fn of Object.values(prod.stack.functions)) {
      const policies = values(prod.template, 'AWS::IAM::Policy').filter((p) => JSON.stringify(p.Properties.Roles).includes(prod.stack.getLogicalId(fn.role!.node.defaultChild as never)));
      expect(JSON.stringify(policies)).not.toContain('kms:Encrypt');
    }
  });

  it('alarms on webhook signature rejections, event anomalies and failures from the processor, in the handlers\' namespace', () => {
    const alarm = (metricName: string) => values(dev.template, 'AWS::CloudWatch::Alarm').find((a) => a.Properties.MetricName === metricName)?.Properties;
    expect(alarm('WebhookSignatureRejected')).toMatchObject({ Namespace: 'Payments', Dimensions: [{ Name: 'service', Value: 'payments-webhooks' }], Statistic: 'Sum', Threshold: 3 });
    expect(alarm('StripeEventAnomaly')).toMatchObject({ Namespace: 'Payments', Dimensions: [{ Name: 'service', Value: 'payments-events' }], Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
    expect(alarm('StripeEventFailed')).toMatchObject({ Namespace: 'Payments', Dimensions: [{ Name: 'service', Value: 'payments-events' }], Threshold: 1 });
    expect(alarm('WebhookReceived')).toBeUndefined();
  });

  it('alarms on hours without webhooks only when asked, treating silence as breaching', () => {
    const noWebhooks = values(withStripeIps.template, 'AWS::CloudWatch::Alarm').find((a) => a.Properties.MetricName === 'WebhookReceived')!.Properties;
    expect(noWebhooks).toMatchObject({ Period: 3600, EvaluationPeriods: 6, Threshold: 1, ComparisonOperator: 'LessThanThreshold', TreatMissingData: 'breaching' });
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
