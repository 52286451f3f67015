import { App } from 'aws-cdk-lib';
import { configFromContext, CONTEXT_KEYS } from '../../lib/config';

const configOf = (context: Record<string, unknown>) => configFromContext(new App({ context }).node);

describe('configFromContext', () => {
  it('defaults to dev with per-stage secret names, so dev and prod never share a signing secret', () => {
    expect(configOf({})).toMatchObject({ stage: 'dev', stripeApiKeySecretName: 'payments/dev/stripe-api-key', stripeWebhookSecretName: 'payments/dev/stripe-webhook' });
    expect(configOf({ stage: 'prod' })).toMatchObject({ stripeApiKeySecretName: 'payments/prod/stripe-api-key', stripeWebhookSecretName: 'payments/prod/stripe-webhook' });
  });

  it.each([
    [{ enableWAF: 'true' }, /Unknown context key\(s\): enableWAF \(did you mean enableWaf\?\)/],
    [{ stripeSecretName: 'payments/stripe' }, /Unknown context key\(s\): stripeSecretName/],
    [{ stage: 'prod', removeTablesOnDelete: 'true' }, /removeTablesOnDelete=true is refused for stage prod/],
    [{ cognitoUserPoolArn: 'arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbC' }, /needs cognitoAppClientIds/],
    [{ cognitoAppClientIds: 'abc' }, /applies only with cognitoUserPoolArn/],
    [{ stripeWebhookCidrs: '3.18.12.63/32' }, /set enableWaf=true/],
    [{ enableWaf: 'true', stripeWebhookCidrs: '3.18.12.63' }, /list of CIDR blocks/],
    [{ processorMaxConcurrency: '1' }, /2 to 1000/],
    [{ noWebhooksAlarmHours: '48' }, /1 to 24/],
    [{ stripeApiKeySecretName: 'one', stripeWebhookSecretName: 'one' }, /same secret/],
    [{ stage: 'staging' }, /stage must be one of dev, prod/],
    [{ corsAllowedOrigins: '*' }, /corsAllowedOrigins: "\*" is refused/],
  ])('refuses %j', (context, message) => expect(() => configOf(context)).toThrow(message));

  it("ignores the CDK CLI's own keys and feature flags", () => {
    const cdkOwn = { 'aws:cdk:enable-path-metadata': true, 'aws:cdk:bundling-stacks': [], '@aws-cdk/core:failSynthOnValidationErrors': true };
    expect(configOf(cdkOwn).stage).toBe('dev');
  });

  it('accepts every key it documents', () => {
    const everything: Record<string, string> = {
      stage: 'prod', stackName: 'Payments-x', stripeApiKeySecretName: 'a/key', stripeWebhookSecretName: 'a/webhook',
      cognitoUserPoolArn: 'arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbC', cognitoAppClientIds: 'c1,c2',
      removeTablesOnDelete: 'false', checkoutIdempotencyTtlSeconds: '60', refundIdempotencyTtlSeconds: '60', stripeEventIdempotencyTtlSeconds: '600000',
      maxReceiveCount: '3', processorMaxConcurrency: '4', processorReservedConcurrency: '6', apiThrottleRateLimit: '1', apiThrottleBurstLimit: '2',
      webhookThrottleRateLimit: '1', webhookThrottleBurstLimit: '2', enableWaf: 'true', wafRequestsPerIpPer5Minutes: '500', stripeWebhookCidrs: '3.18.12.63/32',
      kmsEncryption: 'true', alarmEmail: 'a@b.co', noWebhooksAlarmHours: '12', apiGatewayCloudWatchRole: 'true',
      corsAllowedOrigins: 'https://shop.example.com,https://admin.example.com',
    };
    expect(Object.keys(everything).sort()).toEqual([...CONTEXT_KEYS].sort());
    expect(configOf(everything)).toMatchObject({ cognitoAppClientIds: ['c1', 'c2'], stripeWebhookCidrs: ['3.18.12.63/32'], processorReservedConcurrency: 6, noWebhooksAlarmHours: 12, corsAllowedOrigins: ['https://shop.example.com', 'https://admin.example.com'] });
  });
});
