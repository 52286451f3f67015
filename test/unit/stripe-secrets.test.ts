import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { clearCaches } from '@aws-lambda-powertools/parameters';
import { mockClient } from 'aws-sdk-client-mock';
import { stripeSecrets } from '../../lambdas/shared/stripe-secrets';

// Secrets Manager has no local stand-in: the service is mocked, Powertools' cache is real.
const secretsManager = mockClient(SecretsManagerClient);
const saved = { ...process.env };

beforeEach(() => {
  secretsManager.reset();
  clearCaches();
  delete process.env.STRIPE_SECRET_KEY;
  delete process.env.STRIPE_WEBHOOK_SECRET;
  process.env.STRIPE_SECRET_NAME = 'payments/stripe';
});
afterAll(() => {
  process.env = saved;
  secretsManager.restore();
});

it('reads the Stripe keys from the named secret once, then from the cache', async () => {
  secretsManager.on(GetSecretValueCommand, { SecretId: 'payments/stripe' }).resolves({ SecretString: JSON.stringify({ apiKey: 'sk_test_a', webhookSigningSecret: 'whsec_a' }) });
  for (let i = 0; i < 5; i++) expect(await stripeSecrets()).toEqual({ apiKey: 'sk_test_a', webhookSigningSecret: 'whsec_a' });
  expect(secretsManager.commandCalls(GetSecretValueCommand)).toHaveLength(1);
});

it('refuses a secret without both keys, naming the secret but not its value', async () => {
  secretsManager.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ apiKey: 'sk_test_only' }) });
  const error = await stripeSecrets().catch((e: Error) => e);
  expect((error as Error).message).toContain('payments/stripe');
  expect((error as Error).message).not.toContain('sk_test_only');
});

it('prefers the local environment variables, and then calls no AWS service', async () => {
  process.env.STRIPE_SECRET_KEY = 'sk_test_local';
  process.env.STRIPE_WEBHOOK_SECRET = 'whsec_local';
  expect(await stripeSecrets()).toEqual({ apiKey: 'sk_test_local', webhookSigningSecret: 'whsec_local' });
  expect(secretsManager.calls()).toHaveLength(0);
});

it('says what to set when neither is configured', async () => {
  delete process.env.STRIPE_SECRET_NAME;
  await expect(stripeSecrets()).rejects.toThrow(/STRIPE_SECRET_NAME.*STRIPE_SECRET_KEY/);
});
