import { defineCli, parseCli, usage, UsageError } from './cli';
import { routes } from '../lib/routes';
import { localCorsAllowedOrigins } from './cors-origins';
import { chooseDynamoDbBackend } from './dynamodb';
import { LOCAL_SERVICES, localPort, PortInUseError, PortVariableError } from './ports';
import { startLocalStack, type LocalStack } from './stack';
import { installTerminalLog, LOG_LEVELS, type LogLevel } from './terminal-log';

/** `npm start`: the whole stack on this machine, no AWS account, no network. */
const cli = defineCli({
  command: 'npm start --',
  summary:
    'Runs the whole payments stack on this machine: the API (real handlers), DynamoDB, the SQS and Stripe\n' +
    'emulators, the queue poller, the Stripe hosted-checkout page and a demo shop. Ctrl-C (or SIGTERM/SIGHUP) stops all of it.\n' +
    "Browser origins allowed (CORS): cdk.json's context corsAllowedOrigins, or CORS_ALLOWED_ORIGINS instead, plus the shop's.",
  options: {
    persist: { type: 'string', value: 'dir', description: 'keep DynamoDB, the Stripe emulator and the queues in this folder across restarts' },
    'log-level': { type: 'string', value: 'level', default: 'info', description: `${LOG_LEVELS.join(' | ')}: what the terminal shows` },
    json: { type: 'boolean', default: false, description: "the handlers' raw JSON log lines instead of one readable line per request and event" },
  },
  usesLocalStack: true,
  examples: ['npm start -- --persist .local-data', 'PORT=3100 SHOP_PORT=3101 STRIPE_EMULATOR_PORT=0 npm start -- --log-level debug', 'CORS_ALLOWED_ORIGINS=http://localhost:5173 npm start'],
});
const { values } = parseCli(cli);

function fail(message: string, code: number): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

async function main() {
  const level = values['log-level'] as LogLevel;
  if (!LOG_LEVELS.includes(level)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got "${level}"`);
  const ports = { api: localPort('api'), stripe: localPort('stripe'), sqs: localPort('sqs'), dynamodb: localPort('dynamodb'), shop: localPort('shop') };
  // Before anything starts: a malformed list stops `npm start` as it stops `cdk synth`.
  const cors = localCorsAllowedOrigins();
  const realStripeSecretKey = process.env.STRIPE_SECRET_KEY || undefined;
  if (realStripeSecretKey && !realStripeSecretKey.startsWith('sk_test_')) {
    fail('Refusing to run the local stack with a live Stripe key: use a test-mode key (sk_test_…).', 1);
  }
  process.env.POWERTOOLS_LOG_LEVEL = level.toUpperCase();
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  const logRequest = installTerminalLog({ level, json: values.json });

  // Signals first: a stop requested while starting still stops what already started.
  let stack: LocalStack | undefined;
  let stopping = false;
  const shutdown = async (signal: NodeJS.Signals) => {
    if (stopping) {
      if (signal === 'SIGINT') process.exit(130); // a second Ctrl-C: stop waiting
      return;
    }
    stopping = true;
    console.log(`\n${signal}: stopping the local stack`);
    // Whatever hangs, the ports must come free: the process ends within 10 s.
    setTimeout(() => process.exit(1), 10_000).unref();
    await stack?.stop();
    process.exit(0);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void shutdown(signal));
  // A parent that dies without passing a signal on (npm on SIGHUP, a killed IDE) must not leave
  // the stack holding its ports: when this process is re-parented, it stops.
  const parent = process.ppid;
  setInterval(() => process.ppid !== parent && void shutdown('SIGHUP'), 1000).unref();

  const { backend, notice } = chooseDynamoDbBackend();
  if (notice) console.warn(notice);
  stack = await startLocalStack({
    dynamoDbBackend: backend,
    ports,
    persistDir: values.persist,
    realStripeSecretKey,
    webhookSecret: process.env.STRIPE_WEBHOOK_SECRET || 'whsec_local_emulator',
    onRequest: logRequest,
    shop: true,
    corsAllowedOrigins: cors.origins,
  });
  if (stopping) return stack.stop();

  const line = (label: string, text: string) => console.log(`  ${label.padEnd(10)} ${text}`);
  console.log('\nLocal payments stack');
  line('API', `${stack.apiUrl}  (${routes.map((r) => `${r.method} ${r.resource}`).join(', ')}; GET /_local/health)`);
  line('Shop', `${stack.shopUrl}  (a demo shop on client/payments-client.ts: buy, pay on the Stripe page, refund; on its own origin, so its calls cross CORS)`);
  line('CORS', `${stack.corsAllowedOrigins.join(', ')}  (${cors.origins.length ? cors.source : `none from ${cors.source}`}, plus the shop's)`);
  line('Stripe', stack.stripeUrl ? `${stack.stripeUrl}  (emulator; webhooks → ${stack.apiUrl}/v1/webhooks/stripe)` : 'real Stripe test mode (STRIPE_SECRET_KEY); forward webhooks with `stripe listen`');
  line('SQS', `${stack.sqsUrl}  (events ${stack.queueUrl}, DLQ ${stack.deadLetterQueueUrl})`);
  line('DynamoDB', `${stack.dynamoDbUrl}  (${stack.dynamoDb.description}, ${values.persist ? `persisted in ${values.persist}` : 'in memory'}; DYNAMODB_BACKEND=${backend})`);
  if (values.persist) line('Persisted', `${values.persist}: DynamoDB${stack.stripeUrl ? ', the Stripe emulator' : ''} and the queued events are kept across restarts`);
  console.log('\n  WARNING: local only — the API accepts any well-formed JWT WITHOUT verifying its signature.');
  console.log(`  Try:  ${stack.shopUrl} in a browser,  npm run demo,  or  TOKEN=$(npm run -s token -- --tenant acme --user alice)\n`);
  console.log(`ready ${stack.apiUrl}`);
}

main().catch((error: unknown) => {
  if (error instanceof UsageError) fail(`${error.message}\n\n${usage(cli)}`, 2);
  if (error instanceof PortVariableError) {
    process.stderr.write(`${error.message}\n\nPorts: ${Object.values(LOCAL_SERVICES).map((s) => `${s.env} (${s.defaultPort})`).join(', ')}. See npm start -- --help\n`);
    process.exit(2);
  }
  if (error instanceof PortInUseError) fail(`The local stack could not start.\n  ${error.message}`, 1);
  fail(`The local stack could not start: ${error instanceof Error ? error.message : String(error)}`, 1);
});
