import { parseArgs, type ParseArgsConfig } from 'node:util';

/**
 * What the journal CLIs share: usage errors (exit 2, never a stack trace) and configuration.
 * Configuration is the handlers': STRIPE_SECRET_KEY (+ STRIPE_API_BASE) or STRIPE_SECRET_NAME,
 * ORDERS_TABLE_NAME, JOURNAL_TABLE_NAME, EVENTS_QUEUE_URL, DYNAMODB_ENDPOINT; with no Stripe
 * configuration at all, the local stack's defaults (`npm start`), as `npm run reconcile` does.
 */
export class UsageError extends Error {}

export function parseCommandLine<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

export function isoTime(name: string, value: string): Date {
  const parsed = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(parsed.getTime())) throw new UsageError(`--${name} takes an ISO time such as 2026-11-23T10:00:00Z, not "${value}".`);
  return parsed;
}

export interface CliConfig {
  ordersTableName: string;
  journalTableName: string;
  queueUrl: string;
}

/** Fills in the local stack's defaults when nothing names a Stripe account, then reads the configuration. */
export function cliConfig(): CliConfig {
  const local = !process.env.STRIPE_SECRET_KEY && !process.env.STRIPE_SECRET_NAME;
  if (local) {
    process.env.STRIPE_SECRET_KEY = 'sk_test_local_emulator';
    process.env.STRIPE_API_BASE ??= `http://127.0.0.1:${process.env.STRIPE_EMULATOR_PORT ?? 12111}`;
    process.env.DYNAMODB_ENDPOINT ??= `http://127.0.0.1:${process.env.DYNAMODB_PORT ?? 8000}`;
    process.env.ORDERS_TABLE_NAME ??= 'payments-orders';
    process.env.JOURNAL_TABLE_NAME ??= 'payments-journal';
    process.env.EVENTS_QUEUE_URL ??= `http://127.0.0.1:${process.env.SQS_PORT ?? 9324}/000000000000/stripe-events`;
    Object.assign(process.env, {
      AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
      AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? 'local',
      AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? 'local',
    });
  }
  const need = (name: string) => {
    const value = process.env[name];
    if (!value) throw new Error(`Set ${name} (the stack's output of the same name), or run against the local stack with no Stripe configuration.`);
    return value;
  };
  return { ordersTableName: need('ORDERS_TABLE_NAME'), journalTableName: need('JOURNAL_TABLE_NAME'), queueUrl: process.env.EVENTS_QUEUE_URL ?? '' };
}

/** Runs a CLI's main: usage errors print the usage and exit 2, other failures their message and exit 1. */
export function runCli(usage: string, main: (args: string[]) => Promise<number>): void {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      if (error instanceof UsageError) {
        console.error(`${error.message}\n\n${usage}`);
        process.exitCode = 2;
        return;
      }
      console.error(error instanceof Error ? error.message : error);
      process.exitCode = 1;
    },
  );
}

/** A one-line progress bar on stderr when it is a terminal; otherwise a line per 10 %. */
export function progressBar(label: string, total: number, stream: NodeJS.WriteStream = process.stderr) {
  let lastTenth = -1;
  return (done: number, note = '') => {
    const fraction = total === 0 ? 1 : done / total;
    if (stream.isTTY) {
      const width = 30;
      const filled = Math.round(fraction * width);
      stream.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${note}`.padEnd(100));
      if (done >= total) stream.write('\n');
      return;
    }
    const tenth = Math.floor(fraction * 10);
    if (tenth !== lastTenth) {
      lastTenth = tenth;
      stream.write(`${label} ${done}/${total} ${note}\n`);
    }
  };
}
