import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  CognitoIdentityProviderClient,
  DescribeUserPoolClientCommand,
  DescribeUserPoolCommand,
  paginateListUserPoolClients,
} from '@aws-sdk/client-cognito-identity-provider';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { paginateListSubscriptionsByTopic, SNSClient } from '@aws-sdk/client-sns';
import { parseArgs } from 'node:util';
import Stripe from 'stripe';
import { SUBSCRIBED_EVENT_TYPES } from '../lambdas/domain/stripe-events';
import { API_KEY_SECRET_SHAPE, areSigningSecrets, isApiKey, WEBHOOK_SECRET_SHAPE } from '../lambdas/shared/stripe-secrets';
import type { StackOutputs } from '../lib/payments-stack';

/**
 * `npm run doctor -- --stage <stage>`: checks a deployed stack from the outside and says what
 * to fix. Reads (never prints) the two Stripe secrets, and uses the API key to look at the
 * Stripe webhook endpoint. Exit 0 when every check passes, 1 when one fails, 2 on bad usage.
 */
export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skipped';
export interface Check {
  name: string;
  status: CheckStatus;
  detail: string;
  /** What to do about it, when it is not ok. */
  fix?: string;
}

export interface DoctorDeps {
  stage: string;
  stackName: string;
  cloudFormation: CloudFormationClient;
  secretsManager: SecretsManagerClient;
  cognito: CognitoIdentityProviderClient;
  sns: SNSClient;
  /** A Stripe client for this API key (pointed at the emulator in tests). */
  stripe: (apiKey: string) => Stripe;
}

const REQUIRED_OUTPUTS: (keyof StackOutputs)[] = ['ApiUrl', 'WebhookUrl', 'UserPoolId', 'AppClientIds', 'StripeApiKeySecretName', 'StripeWebhookSecretName', 'AlarmTopicArn'];
const TENANT_ATTRIBUTE = 'custom:tenant_id';

const ok = (name: string, detail: string): Check => ({ name, status: 'ok', detail });
const fail = (name: string, detail: string, fix: string): Check => ({ name, status: 'fail', detail, fix });
const warn = (name: string, detail: string, fix: string): Check => ({ name, status: 'warn', detail, fix });
const skipped = (name: string, detail: string): Check => ({ name, status: 'skipped', detail });
/** An AWS error's name and message (never a secret value: the SDK does not echo them). */
const errorName = (error: unknown) => `${(error as Error).name ?? 'Error'}: ${String((error as Error).message ?? '').slice(0, 200)}`;

export async function runDoctor(deps: DoctorDeps): Promise<Check[]> {
  const checks: Check[] = [];
  const outputs = await stackOutputs(deps, checks);
  if (!outputs) return checks;
  const apiKey = await apiKeySecret(deps, outputs.StripeApiKeySecretName, checks);
  await webhookSecret(deps, outputs.StripeWebhookSecretName, checks);
  await userPool(deps, outputs, checks);
  await alarmTopic(deps, outputs.AlarmTopicArn, checks);
  await stripeEndpoint(deps, outputs.WebhookUrl, apiKey, checks);
  return checks;
}

async function stackOutputs(deps: DoctorDeps, checks: Check[]): Promise<StackOutputs | undefined> {
  const name = 'stack outputs';
  let stack;
  try {
    [stack] = (await deps.cloudFormation.send(new DescribeStacksCommand({ StackName: deps.stackName }))).Stacks ?? [];
  } catch (error) {
    checks.push(fail(name, `stack ${deps.stackName} not readable (${errorName(error)})`, `check AWS credentials and --region / --stack-name, or deploy it: npx cdk deploy -c stage=${deps.stage}`));
    return undefined;
  }
  const values = Object.fromEntries((stack?.Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]));
  const missing = REQUIRED_OUTPUTS.filter((key) => !values[key]);
  if (!stack || missing.length > 0) {
    checks.push(fail(name, `${deps.stackName} lacks outputs ${missing.join(', ')}`, 'deploy the current version of the stack'));
    return undefined;
  }
  if (!/_COMPLETE$/.test(stack.StackStatus ?? '') || /ROLLBACK|DELETE/.test(stack.StackStatus ?? '')) {
    checks.push(warn(name, `${deps.stackName} is ${stack.StackStatus}`, 'finish or fix the last deployment (CloudFormation console, stack events)'));
  } else {
    checks.push(ok(name, `${deps.stackName} (${stack.StackStatus}) has all ${REQUIRED_OUTPUTS.length} outputs`));
  }
  return values as unknown as StackOutputs;
}

async function secretJson(deps: DoctorDeps, secretId: string): Promise<Record<string, unknown> | string> {
  try {
    const { SecretString } = await deps.secretsManager.send(new GetSecretValueCommand({ SecretId: secretId }));
    const value = JSON.parse(SecretString ?? '') as unknown;
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : 'is not a JSON object';
  } catch (error) {
    return error instanceof SyntaxError ? 'is not JSON' : `cannot be read (${errorName(error)})`;
  }
}

const createFromFile = (secretId: string, shape: string) =>
  `put ${shape} in a file, then: aws secretsmanager create-secret --name ${secretId} --secret-string file://secret.json (or put-secret-value --secret-id …); delete the file`;

async function apiKeySecret(deps: DoctorDeps, secretId: string, checks: Check[]): Promise<string | undefined> {
  const name = 'Stripe API key secret';
  const value = await secretJson(deps, secretId);
  if (typeof value === 'string' || !isApiKey(value.apiKey)) {
    checks.push(fail(name, `${secretId} ${typeof value === 'string' ? value : `is not shaped ${API_KEY_SECRET_SHAPE}`}`, createFromFile(secretId, API_KEY_SECRET_SHAPE)));
    return undefined;
  }
  const live = /_live_/.test(value.apiKey);
  if (live && deps.stage !== 'prod') checks.push(fail(name, `${secretId} holds a live-mode key on stage ${deps.stage}`, 'use a test-mode key (sk_test_… or rk_test_…) outside prod'));
  else if (!live && deps.stage === 'prod') checks.push(warn(name, `${secretId} holds a test-mode key on stage prod`, 'put the live restricted key in it when you go live'));
  else checks.push(ok(name, `${secretId} holds a ${live ? 'live' : 'test'}-mode key`));
  return value.apiKey;
}

async function webhookSecret(deps: DoctorDeps, secretId: string, checks: Check[]) {
  const name = 'Stripe webhook secret';
  const value = await secretJson(deps, secretId);
  if (typeof value === 'string' || !areSigningSecrets(value.signingSecrets)) {
    checks.push(fail(name, `${secretId} ${typeof value === 'string' ? value : `is not shaped ${WEBHOOK_SECRET_SHAPE}`}`, createFromFile(secretId, WEBHOOK_SECRET_SHAPE)));
    return;
  }
  checks.push(ok(name, `${secretId} holds ${value.signingSecrets.length} signing secret(s)`));
}

async function userPool(deps: DoctorDeps, outputs: StackOutputs, checks: Check[]) {
  const UserPoolId = outputs.UserPoolId;
  let pool;
  try {
    ({ UserPool: pool } = await deps.cognito.send(new DescribeUserPoolCommand({ UserPoolId })));
  } catch (error) {
    checks.push(fail('user pool', `${UserPoolId} cannot be read (${errorName(error)})`, 'check the pool id and your permissions (cognito-idp:DescribeUserPool)'));
    return;
  }
  const tenant = pool?.SchemaAttributes?.find((a) => a.Name === TENANT_ATTRIBUTE);
  if (!tenant) checks.push(fail('tenant attribute', `${UserPoolId} has no ${TENANT_ATTRIBUTE}`, 'use a pool with an immutable custom:tenant_id attribute (custom attributes cannot be added as immutable later)'));
  else if (tenant.Mutable !== false) checks.push(fail('tenant attribute', `${TENANT_ATTRIBUTE} is mutable in ${UserPoolId}: users with a client that may write it can change tenant`, 'use a pool whose custom:tenant_id is immutable'));
  else checks.push(ok('tenant attribute', `${TENANT_ATTRIBUTE} is immutable`));

  if (pool?.AdminCreateUserConfig?.AllowAdminCreateUserOnly !== true) {
    checks.push(fail('self sign-up', `${UserPoolId} lets anyone sign up (and choose attributes at sign-up)`, `aws cognito-idp update-user-pool --user-pool-id ${UserPoolId} --admin-create-user-config AllowAdminCreateUserOnly=true (update-user-pool resets settings you omit: pass the current ones too)`));
  } else {
    checks.push(ok('self sign-up', 'off: only administrators create users'));
  }

  const configured = outputs.AppClientIds.split(',').filter(Boolean);
  const writers: string[] = [];
  const seen = new Set<string>();
  for await (const page of paginateListUserPoolClients({ client: deps.cognito }, { UserPoolId })) {
    for (const { ClientId } of page.UserPoolClients ?? []) {
      const { UserPoolClient: client } = await deps.cognito.send(new DescribeUserPoolClientCommand({ UserPoolId, ClientId }));
      seen.add(ClientId!);
      // No WriteAttributes at all means the client may write every writable attribute.
      const write = client?.WriteAttributes ?? [];
      if (write.length === 0 || write.includes(TENANT_ATTRIBUTE)) writers.push(ClientId!);
    }
  }
  const absent = configured.filter((id) => !seen.has(id));
  if (absent.length > 0) checks.push(fail('app clients', `configured app client(s) ${absent.join(', ')} are not in ${UserPoolId}`, 'redeploy with -c cognitoAppClientIds=<ids of this pool>'));
  if (writers.length > 0) {
    checks.push(fail('app clients', `client(s) ${writers.join(', ')} may write ${TENANT_ATTRIBUTE} (no or too wide WriteAttributes)`, `aws cognito-idp update-user-pool-client --user-pool-id ${UserPoolId} --client-id <id> --write-attributes name (and the client's other settings)`));
  }
  if (absent.length === 0 && writers.length === 0) checks.push(ok('app clients', `${seen.size} client(s), none may write ${TENANT_ATTRIBUTE}; API accepts ${configured.join(', ')}`));
}

async function alarmTopic(deps: DoctorDeps, TopicArn: string, checks: Check[]) {
  const name = 'alarm subscription';
  let confirmed = 0;
  let pending = 0;
  for await (const page of paginateListSubscriptionsByTopic({ client: deps.sns }, { TopicArn })) {
    for (const subscription of page.Subscriptions ?? []) {
      if (subscription.SubscriptionArn?.startsWith('arn:')) confirmed++;
      else pending++;
    }
  }
  if (confirmed > 0) checks.push(ok(name, `${confirmed} confirmed subscription(s) on the alarm topic`));
  else if (pending > 0) checks.push(fail(name, `${pending} subscription(s) waiting for confirmation: alarms reach nobody yet`, 'click the link in the "AWS Notification - Subscription Confirmation" email'));
  else checks.push(fail(name, 'the alarm topic has no subscription: alarms reach nobody', `redeploy with -c alarmEmail=oncall@example.com, or: aws sns subscribe --topic-arn ${TopicArn} --protocol email --notification-endpoint <address>`));
}

async function stripeEndpoint(deps: DoctorDeps, webhookUrl: string, apiKey: string | undefined, checks: Check[]) {
  const name = 'Stripe webhook endpoint';
  if (!apiKey) return checks.push(skipped(name, 'needs a readable Stripe API key'));
  const stripe = deps.stripe(apiKey);
  const endpoints: Stripe.WebhookEndpoint[] = [];
  try {
    for await (const endpoint of stripe.webhookEndpoints.list({ limit: 100 })) if (endpoint.url === webhookUrl) endpoints.push(endpoint);
  } catch (error) {
    return checks.push(fail(name, `Stripe refused to list webhook endpoints (${(error as Error).message})`, 'the API key needs read access to webhook endpoints'));
  }
  const expected = [...SUBSCRIBED_EVENT_TYPES].sort();
  const create = `create it as README "Deploy", step 4 shows: url ${webhookUrl}, api_version ${Stripe.API_VERSION}, enabled_events ${expected.join(' ')}`;
  if (endpoints.length === 0) return checks.push(fail(name, `no endpoint for ${webhookUrl}`, create));
  if (endpoints.length > 1) checks.push(warn(name, `${endpoints.length} endpoints for ${webhookUrl}: each event is delivered once per endpoint`, 'delete all but one'));
  for (const endpoint of endpoints) {
    const problems: string[] = [];
    const fixes: string[] = [];
    if (endpoint.status !== 'enabled') {
      problems.push(`${endpoint.status}`);
      fixes.push(`re-enable it (Stripe Dashboard → Developers → Webhooks → ${endpoint.id}, or POST /v1/webhook_endpoints/${endpoint.id} disabled=false)`);
    }
    const subscribed = [...endpoint.enabled_events].sort();
    const missing = expected.filter((e) => !subscribed.includes(e));
    const extra = subscribed.filter((e) => !(expected as string[]).includes(e));
    if (missing.length > 0 || extra.length > 0) {
      problems.push(`events differ (missing: ${missing.join(', ') || 'none'}; not handled: ${extra.join(', ') || 'none'})`);
      fixes.push(`set its events to exactly: ${expected.join(' ')} (Dashboard, or POST /v1/webhook_endpoints/${endpoint.id} enabled_events[])`);
    }
    if (endpoint.api_version !== Stripe.API_VERSION) {
      problems.push(`API version ${endpoint.api_version ?? "the account's default"}, not ${Stripe.API_VERSION}`);
      fixes.push(`the API version cannot be changed: create a new endpoint (${create}), move to its secret, delete ${endpoint.id}`);
    }
    if (problems.length > 0) checks.push(fail(name, `${endpoint.id}: ${problems.join('; ')}`, fixes.join('; then ')));
    else checks.push(ok(name, `${endpoint.id} enabled, ${expected.length} handled event types, API version ${Stripe.API_VERSION}`));
  }
}

const USAGE = `Usage: npm run doctor -- --stage <dev|prod> [--stack-name <name>] [--region <region>] [--json]

Checks a deployed stack from the outside: its outputs, both Stripe secrets (shape only, never
printed), the user pool's tenant attribute, sign-up and app clients, the alarm subscription, and
the Stripe webhook endpoint for the API (enabled, exactly the handled events, pinned API version).
Uses your AWS credentials (AWS_PROFILE/AWS_REGION) and the Stripe API key from the stack's secret.
Exit 0: all ok; 1: something to fix; 2: bad usage.`;

const SYMBOL: Record<CheckStatus, string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL', skipped: 'skip' };

export function formatChecks(checks: Check[]): string {
  return checks.map((c) => `${SYMBOL[c.status]}  ${c.name}: ${c.detail}${c.fix ? `\n      fix: ${c.fix}` : ''}`).join('\n');
}

/** STRIPE_API_BASE points the SDK at the local emulator, as for the handlers. */
export function stripeFor(apiKey: string): Stripe {
  const base = process.env.STRIPE_API_BASE;
  if (!base) return new Stripe(apiKey);
  const url = new URL(base);
  return new Stripe(apiKey, { host: url.hostname, port: url.port, protocol: url.protocol.replace(':', '') as 'http' | 'https' });
}

export async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { stage: { type: 'string' }, 'stack-name': { type: 'string' }, region: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } }));
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.stage || !/^(dev|prod)$/.test(values.stage)) {
    console.error(`--stage dev or --stage prod is required\n\n${USAGE}`);
    return 2;
  }
  const region = values.region ? { region: values.region } : {};
  const checks = await runDoctor({
    stage: values.stage,
    stackName: values['stack-name'] ?? `Payments-${values.stage}`,
    cloudFormation: new CloudFormationClient(region),
    secretsManager: new SecretsManagerClient(region),
    cognito: new CognitoIdentityProviderClient(region),
    sns: new SNSClient(region),
    stripe: stripeFor,
  });
  console.log(values.json ? JSON.stringify(checks, null, 2) : formatChecks(checks));
  return checks.some((c) => c.status === 'fail') ? 1 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(`doctor could not finish: ${(error as Error).message}`);
      process.exit(1);
    },
  );
}
