import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  CognitoIdentityProviderClient,
  DescribeUserPoolClientCommand,
  DescribeUserPoolCommand,
  ListUserPoolClientsCommand,
  type UserPoolClientType,
  type UserPoolType,
} from '@aws-sdk/client-cognito-identity-provider';
import { GetSecretValueCommand, ResourceNotFoundException, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ListSubscriptionsByTopicCommand, SNSClient, type Subscription } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import Stripe from 'stripe';
import { formatChecks, main, runDoctor, type Check } from '../../bin/doctor';
import { SUBSCRIBED_EVENT_TYPES } from '../../lambdas/domain/stripe-events';
import { startStripeEmulator, type StripeEmulator } from '../../local/stripe-emulator/server';
import { stripeClientFor } from '../support/harness';

/**
 * The doctor against fakes of the AWS APIs (nothing else can play a deployed account) and the
 * Stripe emulator through the real SDK. Each defect of the issue must turn one check red.
 */
const WEBHOOK_URL = 'https://abc123.execute-api.eu-west-1.amazonaws.com/dev/v1/webhooks/stripe';
const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:Payments-dev-AlarmTopic';
const API_KEY = 'sk_test_doctor_key_value';
const SIGNING = 'whsec_doctor_signing_value';

interface FakeAccount {
  outputs: Record<string, string>;
  secrets: Record<string, unknown>;
  pool: UserPoolType;
  clients: UserPoolClientType[];
  subscriptions: Subscription[];
}
const healthy = (): FakeAccount => ({
  outputs: {
    ApiUrl: 'https://abc123.execute-api.eu-west-1.amazonaws.com/dev/', WebhookUrl: WEBHOOK_URL, UserPoolId: 'eu-west-1_Pool', AppClientIds: 'client1',
    StripeApiKeySecretName: 'payments/dev/stripe-api-key', StripeWebhookSecretName: 'payments/dev/stripe-webhook', AlarmTopicArn: TOPIC,
  },
  secrets: { 'payments/dev/stripe-api-key': { apiKey: API_KEY }, 'payments/dev/stripe-webhook': { signingSecrets: [SIGNING] } },
  pool: { Id: 'eu-west-1_Pool', SchemaAttributes: [{ Name: 'email', Mutable: true }, { Name: 'custom:tenant_id', Mutable: false }], AdminCreateUserConfig: { AllowAdminCreateUserOnly: true } },
  clients: [{ ClientId: 'client1', WriteAttributes: ['name'] }, { ClientId: 'client2', WriteAttributes: ['name', 'email'] }],
  subscriptions: [{ SubscriptionArn: `${TOPIC}:1111`, Protocol: 'email', Endpoint: 'oncall@example.com' }],
});

let emulator: StripeEmulator;
let stripe: Stripe;
beforeAll(async () => {
  emulator = await startStripeEmulator();
  stripe = stripeClientFor(emulator.url);
});
afterAll(() => emulator.close());
afterEach(async () => {
  for await (const endpoint of stripe.webhookEndpoints.list()) await stripe.webhookEndpoints.del(endpoint.id);
});

const goodEndpoint = (overrides: Partial<Stripe.WebhookEndpointCreateParams> = {}) =>
  stripe.webhookEndpoints.create({ url: WEBHOOK_URL, enabled_events: [...SUBSCRIBED_EVENT_TYPES], api_version: Stripe.API_VERSION as Stripe.WebhookEndpointCreateParams.ApiVersion, ...overrides });

async function doctor(account: FakeAccount, stage = 'dev') {
  const cloudFormation = new CloudFormationClient({ region: 'eu-west-1' });
  const secretsManager = new SecretsManagerClient({ region: 'eu-west-1' });
  const cognito = new CognitoIdentityProviderClient({ region: 'eu-west-1' });
  const sns = new SNSClient({ region: 'eu-west-1' });
  // Only Payments-dev exists (generic answer first: aws-sdk-client-mock lets a later .on() replace it).
  mockClient(cloudFormation)
    .on(DescribeStacksCommand)
    .rejects(Object.assign(new Error('Stack does not exist'), { name: 'ValidationError' }))
    .on(DescribeStacksCommand, { StackName: 'Payments-dev' })
    .resolves({ Stacks: [{ StackName: 'Payments-dev', StackStatus: 'UPDATE_COMPLETE', CreationTime: new Date(), Outputs: Object.entries(account.outputs).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })) }] });
  const secrets = mockClient(secretsManager);
  secrets.on(GetSecretValueCommand).rejects(new ResourceNotFoundException({ message: 'not found', $metadata: {} }));
  for (const [SecretId, value] of Object.entries(account.secrets)) secrets.on(GetSecretValueCommand, { SecretId }).resolves({ SecretString: typeof value === 'string' ? value : JSON.stringify(value) });
  const pool = mockClient(cognito);
  pool.on(DescribeUserPoolCommand, { UserPoolId: 'eu-west-1_Pool' }).resolves({ UserPool: account.pool });
  // Two pages, as Cognito pages clients.
  pool.on(ListUserPoolClientsCommand).callsFake(({ NextToken }) =>
    NextToken ? { UserPoolClients: account.clients.slice(1).map(({ ClientId }) => ({ ClientId })) } : { UserPoolClients: account.clients.slice(0, 1).map(({ ClientId }) => ({ ClientId })), NextToken: account.clients.length > 1 ? 'page2' : undefined },
  );
  for (const client of account.clients) pool.on(DescribeUserPoolClientCommand, { ClientId: client.ClientId }).resolves({ UserPoolClient: client });
  mockClient(sns).on(ListSubscriptionsByTopicCommand, { TopicArn: TOPIC }).resolves({ Subscriptions: account.subscriptions });
  const checks = await runDoctor({ stage, stackName: `Payments-${stage}`, cloudFormation, secretsManager, cognito, sns, stripe: (apiKey) => stripeClientFor(emulator.url, 0, apiKey) });
  return { checks, text: formatChecks(checks), named: (name: string) => checks.filter((c) => c.name === name) };
}
const statuses = (checks: Check[]) => Object.fromEntries(checks.map((c) => [c.name, c.status]));

it('passes a healthy deployment, every check ok, without printing a secret', async () => {
  await goodEndpoint();
  const { checks, text } = await doctor(healthy());
  expect(checks.filter((c) => c.status !== 'ok')).toEqual([]);
  expect(Object.keys(statuses(checks)).sort()).toEqual(['alarm subscription', 'app clients', 'self sign-up', 'stack outputs', 'Stripe API key secret', 'Stripe webhook endpoint', 'Stripe webhook secret', 'tenant attribute'].sort());
  expect(text).not.toContain(API_KEY);
  expect(text).not.toContain(SIGNING);
  // It used the API key from the secret: the emulator saw the list call.
  expect(emulator.state.requests.some((r) => r.method === 'GET' && r.path === '/v1/webhook_endpoints')).toBe(true);
});

it('stops at the stack when it is missing, and names the missing outputs', async () => {
  expect(statuses((await doctor(healthy(), 'prod')).checks)).toEqual({ 'stack outputs': 'fail' });
  const account = healthy();
  delete account.outputs.AppClientIds;
  const { checks } = await doctor(account);
  expect(checks).toEqual([expect.objectContaining({ name: 'stack outputs', status: 'fail', detail: expect.stringContaining('AppClientIds') })]);
});

it.each([
  ['missing', undefined, 'cannot be read (ResourceNotFoundException: not found)'],
  ['in the old single-secret shape', { apiKey: API_KEY, webhookSigningSecret: SIGNING }, 'is not shaped'],
  ['not JSON', SIGNING, 'is not JSON'],
])('fails a webhook secret that is %s, with a fix that reads the value from a file', async (_, value, detail) => {
  await goodEndpoint();
  const account = healthy();
  if (value === undefined) delete account.secrets['payments/dev/stripe-webhook'];
  else account.secrets['payments/dev/stripe-webhook'] = value;
  const { named, text } = await doctor(account);
  expect(named('Stripe webhook secret')).toEqual([expect.objectContaining({ status: 'fail', detail: expect.stringContaining(detail), fix: expect.stringContaining('file://') })]);
  expect(text).not.toContain(SIGNING);
});

it('fails a live key on dev, and skips Stripe without a usable key', async () => {
  const account = healthy();
  account.secrets['payments/dev/stripe-api-key'] = { apiKey: 'sk_live_doctor_key_value' };
  expect((await doctor(account)).named('Stripe API key secret')[0]).toMatchObject({ status: 'fail', detail: expect.stringContaining('live-mode key on stage dev') });
  account.secrets['payments/dev/stripe-api-key'] = { key: API_KEY };
  const { named, text } = await doctor(account);
  expect(named('Stripe API key secret')[0].status).toBe('fail');
  expect(named('Stripe webhook endpoint')[0].status).toBe('skipped');
  expect(text).not.toContain(API_KEY);
});

it('fails a pool where a user could pick a tenant: mutable attribute, self sign-up, a client that may write it', async () => {
  await goodEndpoint();
  const account = healthy();
  account.pool = { ...account.pool, SchemaAttributes: [{ Name: 'custom:tenant_id', Mutable: true }], AdminCreateUserConfig: { AllowAdminCreateUserOnly: false } };
  account.clients = [{ ClientId: 'client1', WriteAttributes: ['name'] }, { ClientId: 'client2' }, { ClientId: 'client3', WriteAttributes: ['custom:tenant_id'] }];
  const { checks, named } = await doctor(account);
  expect(statuses(checks)).toMatchObject({ 'tenant attribute': 'fail', 'self sign-up': 'fail', 'app clients': 'fail' });
  expect(named('app clients')[0].detail).toContain('client2, client3');
  expect(named('app clients')[0].detail).not.toContain('client1');
});

it('fails when the configured app client is not in the pool, and when the tenant attribute is absent', async () => {
  await goodEndpoint();
  const account = healthy();
  account.outputs.AppClientIds = 'client1,ghost';
  account.pool = { ...account.pool, SchemaAttributes: [{ Name: 'email', Mutable: true }] };
  const { named } = await doctor(account);
  expect(named('app clients')).toEqual([expect.objectContaining({ status: 'fail', detail: expect.stringContaining('ghost') })]);
  expect(named('tenant attribute')[0]).toMatchObject({ status: 'fail', detail: expect.stringContaining('has no custom:tenant_id') });
});

it.each([
  ['only a pending subscription', [{ SubscriptionArn: 'PendingConfirmation', Protocol: 'email' }], 'waiting for confirmation'],
  ['no subscription', [], 'no subscription'],
])('fails an alarm topic with %s', async (_, subscriptions, detail) => {
  await goodEndpoint();
  const account = healthy();
  account.subscriptions = subscriptions;
  expect((await doctor(account)).named('alarm subscription')[0]).toMatchObject({ status: 'fail', detail: expect.stringContaining(detail) });
});

describe('the Stripe webhook endpoint', () => {
  it('fails when none exists for the API URL (one for another URL does not count)', async () => {
    await goodEndpoint({ url: 'https://other.example.com/v1/webhooks/stripe' });
    const [check] = (await doctor(healthy())).named('Stripe webhook endpoint');
    expect(check).toMatchObject({ status: 'fail', detail: `no endpoint for ${WEBHOOK_URL}` });
    for (const type of SUBSCRIBED_EVENT_TYPES) expect(check.fix).toContain(type);
  });

  it('fails a disabled endpoint, and passes it again once re-enabled', async () => {
    const { id } = await goodEndpoint();
    await stripe.webhookEndpoints.update(id, { disabled: true });
    expect((await doctor(healthy())).named('Stripe webhook endpoint')[0]).toMatchObject({ status: 'fail', detail: `${id}: disabled` });
    await stripe.webhookEndpoints.update(id, { disabled: false });
    expect((await doctor(healthy())).named('Stripe webhook endpoint')[0].status).toBe('ok');
  });

  it.each([
    ['a missing event', SUBSCRIBED_EVENT_TYPES.slice(1), `missing: ${SUBSCRIBED_EVENT_TYPES[0]}`],
    ['an event we do not handle', [...SUBSCRIBED_EVENT_TYPES, 'customer.created'], 'not handled: customer.created'],
    ['all events', ['*'], 'not handled: *'],
  ])('fails an endpoint subscribed with %s', async (_, events, detail) => {
    await goodEndpoint({ enabled_events: events as Stripe.WebhookEndpointCreateParams.EnabledEvent[] });
    expect((await doctor(healthy())).named('Stripe webhook endpoint')[0]).toMatchObject({ status: 'fail', detail: expect.stringContaining(detail) });
  });

  it("fails an endpoint on the account's default API version instead of the pinned one", async () => {
    await stripe.webhookEndpoints.create({ url: WEBHOOK_URL, enabled_events: [...SUBSCRIBED_EVENT_TYPES] });
    expect((await doctor(healthy())).named('Stripe webhook endpoint')[0]).toMatchObject({ status: 'fail', detail: expect.stringContaining(`not ${Stripe.API_VERSION}`) });
  });

  it('warns about two endpoints for the same URL (every event would arrive twice)', async () => {
    await goodEndpoint();
    await goodEndpoint();
    const checks = (await doctor(healthy())).named('Stripe webhook endpoint');
    expect(checks.map((c) => c.status).sort()).toEqual(['ok', 'ok', 'warn']);
  });
});

describe('CLI', () => {
  let output: string[];
  beforeEach(() => {
    output = [];
    jest.spyOn(console, 'log').mockImplementation((line: string) => void output.push(line));
    jest.spyOn(console, 'error').mockImplementation((line: string) => void output.push(line));
  });
  afterEach(() => jest.restoreAllMocks());

  it.each([
    [['--help'], 0, 'Usage: npm run doctor'],
    [[], 2, '--stage dev or --stage prod is required'],
    [['--stage', 'staging'], 2, 'Usage:'],
    [['--stage', 'dev', '--bogus'], 2, "Unknown option '--bogus'"],
  ])('%j exits %d with usage', async (argv, code, text) => {
    expect(await main(argv)).toBe(code);
    expect(output.join('\n')).toContain(text);
  });
});
