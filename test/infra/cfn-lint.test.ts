import { App } from 'aws-cdk-lib';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { configFromContext } from '../../lib/config';
import { PaymentsStack } from '../../lib/payments-stack';

/**
 * cfn-lint (the CloudFormation linter, installed on these machines and in CI) over every
 * variant the README documents: no error may remain. It catches what CDK and cdk-nag do not
 * (property values CloudFormation rejects at deploy time, e.g. a WAF statement shape).
 */
const VARIANTS: Record<string, Record<string, string>> = {
  'dev-defaults': {},
  'prod-hardened': {
    stage: 'prod', kmsEncryption: 'true', enableWaf: 'true', stripeWebhookCidrs: '3.18.12.63/32,2600:1f18::/64', alarmEmail: 'oncall@example.com',
    noWebhooksAlarmHours: '6', processorReservedConcurrency: '10', processorMaxConcurrency: '4', corsAllowedOrigins: 'https://shop.example.com',
  },
  'existing-pool': {
    cognitoUserPoolArn: 'arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbCdEf123', cognitoAppClientIds: 'web1,mobile2',
    apiGatewayCloudWatchRole: 'true', removeTablesOnDelete: 'true', enableWaf: 'true', corsAllowedOrigins: 'https://shop.example.com,https://admin.example.com',
  },
};

const outdir = mkdtempSync(path.join(tmpdir(), 'cfn-lint-'));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

interface Finding {
  Rule: { Id: string };
  Level: string;
  Message: string;
  Filename: string;
}

it('finds no error in any synthesized variant', () => {
  const files = Object.entries(VARIANTS).map(([name, context]) => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } });
    const stack = new PaymentsStack(app, `Lint-${name}`, { config: configFromContext(app.node), env: { region: 'eu-west-1' } });
    const file = path.join(outdir, `${name}.json`);
    writeFileSync(file, JSON.stringify(app.synth().getStackByName(stack.stackName).template));
    return file;
  });
  // A control with one known error proves the linter ran and reports errors in this setup.
  const control = path.join(outdir, 'control-with-an-error.json');
  writeFileSync(control, JSON.stringify({ Resources: { Queue: { Type: 'AWS::SQS::Queue', Properties: { VisibilityTimeout: 'forty seconds' } } } }));
  let stdout: string;
  try {
    stdout = execFileSync('cfn-lint', ['--format', 'json', '--regions', 'eu-west-1', 'us-east-1', '--', ...files, control], { encoding: 'utf8', timeout: 240_000 });
  } catch (error) {
    const failed = error as { status?: number; stdout?: string; code?: string };
    if (failed.code === 'ENOENT') throw new Error('cfn-lint is not installed: pip install cfn-lint (the CI image has it)');
    // Exit codes are bit flags: 2 errors, 4 warnings, 8 informational; 1 is a crash.
    if (failed.status === undefined || failed.status & 1 || !failed.stdout) throw error;
    stdout = failed.stdout;
  }
  const findings = JSON.parse(stdout) as Finding[];
  const errors = findings.filter((f) => f.Level === 'Error').map((f) => `${path.basename(f.Filename)} ${f.Rule.Id}`);
  expect(errors).toEqual(['control-with-an-error.json E3012']);
  expect(findings.filter((f) => f.Level === 'Error' && f.Filename !== control).map((f) => f.Message)).toEqual([]);
}, 300_000);
