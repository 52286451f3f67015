import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import { optionalEnv } from './env';

export interface StripeSecrets {
  apiKey: string;
  webhookSigningSecret: string;
}

/** Cached for 5 minutes per container: a rotated secret is picked up without a deploy. */
const SECRET_CACHE_SECONDS = 300;

/**
 * Deployed: one JSON secret in Secrets Manager, named by STRIPE_SECRET_NAME (a name, not a
 * value, is all the Lambda environment holds). Local: STRIPE_SECRET_KEY and
 * STRIPE_WEBHOOK_SECRET, so `npm start` needs no AWS account.
 */
export async function stripeSecrets(): Promise<StripeSecrets> {
  const localApiKey = optionalEnv('STRIPE_SECRET_KEY');
  if (localApiKey) {
    return { apiKey: localApiKey, webhookSigningSecret: optionalEnv('STRIPE_WEBHOOK_SECRET') ?? '' };
  }
  const secretName = optionalEnv('STRIPE_SECRET_NAME');
  if (!secretName) throw new Error('Set STRIPE_SECRET_NAME (deployed) or STRIPE_SECRET_KEY (local)');
  const secret = await getSecret<Partial<StripeSecrets>>(secretName, { transform: 'json', maxAge: SECRET_CACHE_SECONDS });
  if (!secret?.apiKey || !secret.webhookSigningSecret) {
    throw new Error(`Secret ${secretName} must be JSON with "apiKey" and "webhookSigningSecret"`);
  }
  return { apiKey: secret.apiKey, webhookSigningSecret: secret.webhookSigningSecret };
}
