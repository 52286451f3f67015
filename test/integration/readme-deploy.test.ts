import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import Stripe from 'stripe';
import { README, START } from '../../bin/readme-events';
import { SUBSCRIBED_EVENT_TYPES } from '../../lambdas/domain/stripe-events';
import { startStripeEmulator, type StripeEmulator } from '../../local/stripe-emulator/server';
import { stripeClientFor } from '../support/harness';

/**
 * The README's deploy steps 2 and 4, run as written with bash and curl against the Stripe
 * emulator instead of api.stripe.com: the key file, the endpoint with exactly the handled events
 * and the pinned API version, and the signing secret captured into the webhook secret's file.
 */
const WEBHOOK_URL = 'https://abc123.execute-api.eu-west-1.amazonaws.com/dev/v1/webhooks/stripe';
let emulator: StripeEmulator;
let dir: string;
beforeAll(async () => {
  emulator = await startStripeEmulator();
  dir = mkdtempSync(path.join(tmpdir(), 'readme-deploy-'));
});
afterAll(async () => {
  await emulator.close();
  rmSync(dir, { recursive: true, force: true });
});

const readme = readFileSync(README, 'utf8');
const bashBlockAfter = (marker: string) => {
  const from = readme.indexOf(marker);
  const block = /```bash\n([\s\S]*?)```/.exec(readme.slice(from));
  if (from < 0 || !block) throw new Error(`no bash block after ${marker}`);
  return block[1];
};

it('creates the endpoint Stripe-side exactly as doctor expects, and writes its signing secret in the secret\'s shape', async () => {
  const keyFileLine = readme.split('\n').find((line) => line.startsWith("printf 'user = "))!;
  writeFileSync(path.join(dir, 'api-key.json'), JSON.stringify({ apiKey: 'sk_test_readme_walkthrough' }));
  const script = [
    'set -euo pipefail',
    `out() { [ "$1" = WebhookUrl ] && echo '${WEBHOOK_URL}'; }`,
    keyFileLine.replace(/\s+#.*$/, ''),
    bashBlockAfter(START).replaceAll('https://api.stripe.com', emulator.url),
  ].join('\n');
  // Asynchronously: the emulator answers from this process.
  await promisify(execFile)('bash', ['-c', script], { cwd: dir, timeout: 30_000 });

  const stripe = stripeClientFor(emulator.url);
  const { data } = await stripe.webhookEndpoints.list();
  expect(data).toHaveLength(1);
  expect(data[0]).toMatchObject({ url: WEBHOOK_URL, status: 'enabled', api_version: Stripe.API_VERSION });
  expect([...data[0].enabled_events].sort()).toEqual([...SUBSCRIBED_EVENT_TYPES].sort());
  // The file holds the endpoint's own signing secret, shaped as the receiver reads it.
  const [target] = emulator.state.webhookEndpoints.subscribedTo(SUBSCRIBED_EVENT_TYPES[0]);
  expect(JSON.parse(readFileSync(path.join(dir, 'webhook-secret.json'), 'utf8'))).toEqual({ signingSecrets: [target.secret] });
  // The key went to the emulator through the file, as Basic auth.
  expect(readFileSync(path.join(dir, 'stripe-auth.conf'), 'utf8')).toBe('user = "sk_test_readme_walkthrough:"\n');
});
