import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { clearCaches } from '@aws-lambda-powertools/parameters';
import { mockClient } from 'aws-sdk-client-mock';
import { stripeApiKey, webhookSigningSecrets } from '../../lambdas/shared/stripe-secrets';

// Secrets Manager has no local stand-in: the service is mocked, Powertools' cache is real.
const secretsManager = mockClient(SecretsManagerClient);
const saved = { ...process.env };
const API_KEY_SECRET = 'payments/dev/stripe-api-key';
const WEBHOOK_SECRET = 'payments/dev/stripe-webhook';
const secretString = (value: unknown) => ({ SecretString: JSON.stringify(value) });
const calledFor = (secretId: string) => secretsManager.commandCalls(GetSecretValueCommand).filter((c) => c.args[0].input.SecretId === secretId).length;

beforeEach(() => {
  secretsManager.reset();
  clearCaches();
  delete process.env.STRIPE_SECRET_KEY;
  delete process.env.STRIPE_WEBHOOK_SECRET;
  process.env.STRIPE_API_KEY_SECRET_NAME = API_KEY_SECRET;
  process.env.STRIPE_WEBHOOK_SECRET_NAME = WEBHOOK_SECRET;
  secretsManager.on(GetSecretValueCommand, { SecretId: API_KEY_SECRET }).resolves(secretString({ apiKey: 'sk_test_a' }));
  secretsManager.on(GetSecretValueCommand, { SecretId: WEBHOOK_SECRET }).resolves(secretString({ signingSecrets: ['whsec_new', 'whsec_old'] }));
});
afterAll(() => {
  process.env = saved;
  secretsManager.restore();
});

it('reads the API key from its own secret once, then from the cache, and never the signing secret', async () => {
  for (let i = 0; i < 5; i++) expect(await stripeApiKey()).toBe('sk_test_a');
  expect(calledFor(API_KEY_SECRET)).toBe(1);
  expect(calledFor(WEBHOOK_SECRET)).toBe(0);
});

it('reads every live signing secret from the webhook secret only, and re-reads it when asked to refresh', async () => {
  expect(await webhookSigningSecrets()).toEqual(['whsec_new', 'whsec_old']);
  expect(await webhookSigningSecrets()).toEqual(['whsec_new', 'whsec_old']);
  expect(calledFor(WEBHOOK_SECRET)).toBe(1);
  secretsManager.on(GetSecretValueCommand, { SecretId: WEBHOOK_SECRET }).resolves(secretString({ signingSecrets: ['whsec_rolled'] }));
  expect(await webhookSigningSecrets()).toEqual(['whsec_new', 'whsec_old']); // cached
  expect(await webhookSigningSecrets({ refresh: true })).toEqual(['whsec_rolled']);
  expect(calledFor(WEBHOOK_SECRET)).toBe(2);
  expect(calledFor(API_KEY_SECRET)).toBe(0);
});

it.each([
  ['an API key secret without apiKey', () => stripeApiKey(), API_KEY_SECRET, { webhookSigningSecret: 'whsec_x_secretvalue' }],
  ['an API key that is not a Stripe secret key', () => stripeApiKey(), API_KEY_SECRET, { apiKey: 'pk_test_publishable_secretvalue' }],
  ['a signing secret as a single string', () => webhookSigningSecrets(), WEBHOOK_SECRET, { signingSecrets: 'whsec_secretvalue' }],
  ['an empty list of signing secrets', () => webhookSigningSecrets(), WEBHOOK_SECRET, { signingSecrets: [] }],
])('refuses %s, naming the secret and its shape but not its value', async (_, read, secretId, value) => {
  secretsManager.on(GetSecretValueCommand, { SecretId: secretId }).resolves(secretString(value));
  const error = (await read().catch((e: Error) => e)) as Error;
  expect(error).toBeInstanceOf(Error);
  expect(error.message).toContain(secretId);
  expect(error.message).toMatch(/apiKey|signingSecrets/);
  expect(error.message).not.toContain('secretvalue');
});

it('prefers the local environment variables (several signing secrets comma-separated), and then calls no AWS service', async () => {
  process.env.STRIPE_SECRET_KEY = 'sk_test_local';
  process.env.STRIPE_WEBHOOK_SECRET = 'whsec_one, whsec_two';
  expect(await stripeApiKey()).toBe('sk_test_local');
  expect(await webhookSigningSecrets({ refresh: true })).toEqual(['whsec_one', 'whsec_two']);
  expect(secretsManager.calls()).toHaveLength(0);
});

it('says what to set when neither is configured', async () => {
  delete process.env.STRIPE_API_KEY_SECRET_NAME;
  delete process.env.STRIPE_WEBHOOK_SECRET_NAME;
  await expect(stripeApiKey()).rejects.toThrow(/STRIPE_API_KEY_SECRET_NAME.*STRIPE_SECRET_KEY/);
  await expect(webhookSigningSecrets()).rejects.toThrow(/STRIPE_WEBHOOK_SECRET_NAME.*STRIPE_WEBHOOK_SECRET/);
});
