import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import { optionalEnv } from './env';

/**
 * Two secrets, so each function can read only its own (checkout and refunds the API key, the
 * webhook receiver the signing secrets). Deployed: JSON secrets in Secrets Manager whose
 * names (never values) are in the Lambda environment. Local: environment variables, so
 * `npm start` needs no AWS account.
 *
 *   STRIPE_API_KEY_SECRET_NAME    -> {"apiKey": "sk_…"}                        local: STRIPE_SECRET_KEY
 *   STRIPE_WEBHOOK_SECRET_NAME    -> {"signingSecrets": ["whsec_…", …]}       local: STRIPE_WEBHOOK_SECRET (comma-separated)
 *
 * Several signing secrets at once: when a secret is rolled, Stripe signs with the old and the
 * new one until the old expires, and the endpoints of two accounts may share our URL.
 */
export const API_KEY_SECRET_SHAPE = '{"apiKey": "sk_…"}';
export const WEBHOOK_SECRET_SHAPE = '{"signingSecrets": ["whsec_…"]}';

/** Cached per container: a rotated secret is picked up within this time without a deploy. */
const SECRET_CACHE_SECONDS = 300;

async function secretJson(envName: string, localHint: string, forceFetch = false): Promise<{ name: string; value: Record<string, unknown> }> {
  const name = optionalEnv(envName);
  if (!name) throw new Error(`Set ${envName} (deployed) or ${localHint} (local)`);
  const value = await getSecret<Record<string, unknown>>(name, { transform: 'json', maxAge: SECRET_CACHE_SECONDS, forceFetch });
  return { name, value: typeof value === 'object' && value !== null ? value : {} };
}

export async function stripeApiKey(): Promise<string> {
  const local = optionalEnv('STRIPE_SECRET_KEY');
  if (local) return local;
  const { name, value } = await secretJson('STRIPE_API_KEY_SECRET_NAME', 'STRIPE_SECRET_KEY');
  if (!isApiKey(value.apiKey)) throw new Error(`Secret ${name} must be JSON shaped ${API_KEY_SECRET_SHAPE}`);
  return value.apiKey;
}

/** The live signing secrets; `refresh` bypasses the cache (after a signature failure). */
export async function webhookSigningSecrets(options: { refresh?: boolean } = {}): Promise<string[]> {
  const local = optionalEnv('STRIPE_WEBHOOK_SECRET');
  if (local) return local.split(',').map((s) => s.trim()).filter(Boolean);
  const { name, value } = await secretJson('STRIPE_WEBHOOK_SECRET_NAME', 'STRIPE_WEBHOOK_SECRET', options.refresh);
  if (!areSigningSecrets(value.signingSecrets)) throw new Error(`Secret ${name} must be JSON shaped ${WEBHOOK_SECRET_SHAPE}`);
  return value.signingSecrets;
}

/** Shape checks shared with `npm run doctor`, which must not print what it checks. */
export const isApiKey = (value: unknown): value is string => typeof value === 'string' && /^(sk|rk)_(test|live)_\w+$/.test(value);
export const areSigningSecrets = (value: unknown): value is string[] =>
  Array.isArray(value) && value.length > 0 && value.every((s) => typeof s === 'string' && /^whsec_\w+$/.test(s));
