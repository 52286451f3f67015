import { parseArgs } from 'node:util';
import { routes } from '../lib/routes';
import { chooseDynamoDbBackend } from './dynamodb';
import { startLocalStack } from './stack';

/** `npm start`: the whole stack on this machine, no AWS account, no network. */
const { values } = parseArgs({ options: { persist: { type: 'string' } } });
const port = (name: string, fallback: number) => {
  const raw = process.env[name];
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535) throw new Error(`${name} must be a port number, got ${raw}`);
  return value;
};
const realStripeSecretKey = process.env.STRIPE_SECRET_KEY || undefined;
if (realStripeSecretKey && !realStripeSecretKey.startsWith('sk_test_')) {
  console.error('Refusing to run the local stack with a live Stripe key: use a test-mode key (sk_test_…).');
  process.exit(1);
}
process.env.POWERTOOLS_LOG_LEVEL ??= 'INFO';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

async function main() {
const { backend, notice } = chooseDynamoDbBackend();
if (notice) console.warn(notice);
const stack = await startLocalStack({
  dynamoDbBackend: backend,
  ports: { api: port('PORT', 3000), stripe: port('STRIPE_EMULATOR_PORT', 12111), sqs: port('SQS_PORT', 9324), dynamodb: port('DYNAMODB_PORT', 8000) },
  persistDir: values.persist,
  realStripeSecretKey,
  webhookSecret: process.env.STRIPE_WEBHOOK_SECRET || 'whsec_local_emulator',
});

const line = (label: string, text: string) => console.log(`  ${label.padEnd(10)} ${text}`);
console.log('\nLocal payments stack');
line('API', `${stack.apiUrl}  (${routes.map((r) => `${r.method} ${r.resource}`).join(', ')})`);
line('Stripe', stack.stripeUrl ? `${stack.stripeUrl}  (emulator; webhooks → ${stack.apiUrl}/v1/webhooks/stripe)` : 'real Stripe test mode (STRIPE_SECRET_KEY); forward webhooks with `stripe listen`');
line('SQS', `${stack.sqsUrl}  (events ${stack.queueUrl}, DLQ ${stack.deadLetterQueueUrl})`);
line('DynamoDB', `${stack.dynamoDbUrl}  (${stack.dynamoDb.description}, ${values.persist ? `persisted in ${values.persist}` : 'in memory'}; DYNAMODB_BACKEND=${backend})`);
console.log('\n  WARNING: local only — the API accepts any well-formed JWT WITHOUT verifying its signature.');
console.log('  Try:  npm run demo     or     TOKEN=$(npm run -s token -- --tenant acme --user alice)\n');
console.log(`ready ${stack.apiUrl}`);

let stopping = false;
const shutdown = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: stopping the local stack`);
  await stack.stop();
  process.exit(0);
};
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch((error: unknown) => {
  console.error('The local stack could not start:', error instanceof Error ? error.message : error);
  process.exit(1);
});
