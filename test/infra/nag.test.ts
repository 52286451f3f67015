import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { configFromContext } from '../../lib/config';
import { PaymentsStack } from '../../lib/payments-stack';

/**
 * cdk-nag (v3) AwsSolutions over the synthesized stack, for the default and the fully hardened
 * configuration: no finding may be left unacknowledged, and each acknowledgement has a reason.
 */
function nagReport(context: Record<string, unknown>) {
  const outdir = mkdtempSync(path.join(tmpdir(), 'nag-'));
  try {
    const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [], ...context } });
    const stack = new PaymentsStack(app, 'Nag', { config: configFromContext(app.node) });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    let failure: string | undefined;
    try {
      app.synth();
    } catch (error) {
      failure = String(error);
    }
    const report = JSON.parse(readFileSync(path.join(outdir, 'validation-report.json'), 'utf8'));
    return { stack, failure, report };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

const unacknowledged = (report: any) =>
  report.pluginReports.flatMap((plugin: any) =>
    plugin.violations.map((v: any) => `${v.severity} ${v.ruleName} at ${v.violatingConstructs.map((c: any) => c.constructPath).join(', ')}`),
  );

describe.each([
  ['dev defaults', {}],
  ['prod with KMS, WAF, Stripe IPs, alarm email and concurrency limits', { stage: 'prod', kmsEncryption: 'true', enableWaf: 'true', stripeWebhookCidrs: '3.18.12.63/32,2600:1f18::/64', alarmEmail: 'oncall@example.com', processorReservedConcurrency: '10', noWebhooksAlarmHours: '6', corsAllowedOrigins: 'https://shop.example.com' }],
  ['an existing user pool, with the account CloudWatch role', { cognitoUserPoolArn: 'arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbCdEf123', cognitoAppClientIds: 'webclient123', apiGatewayCloudWatchRole: 'true', corsAllowedOrigins: 'https://shop.example.com,https://admin.example.com' }],
])('cdk-nag AwsSolutions, %s', (_, context) => {
  it('leaves no finding unacknowledged (errors and warnings)', () => {
    const { failure, report } = nagReport(context);
    expect(unacknowledged(report)).toEqual([]);
    expect(failure).toBeUndefined();
  });
});

it('gives every acknowledgement a specific reason', () => {
  const { stack } = nagReport({ stage: 'prod', kmsEncryption: 'true', enableWaf: 'true' });
  const acknowledgements = stack.node
    .findAll()
    .flatMap((construct) => construct.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY).map((m) => ({ path: construct.node.path, data: m.data })));
  expect(acknowledgements.length).toBeGreaterThan(0);
  for (const { path: where, data } of acknowledgements) {
    // Stored as { "Annotation::<rule id>": "<reason>" }.
    for (const [rule, reason] of Object.entries(data as Record<string, string>)) {
      expect({ where, rule }).toEqual({ where, rule: expect.stringMatching(/AwsSolutions-/) });
      expect({ where, rule, reason }).toEqual({ where, rule, reason: expect.stringMatching(/^.{60,}$/) });
    }
  }
});
