#!/usr/bin/env node
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type Stripe from 'stripe';
import { EVENTS_QUEUE_MAX_MESSAGE_BYTES } from '../lib/limits';
import { REPLAY_ATTRIBUTE } from '../lambdas/events/create-event-processor';
import type { JournalEntry } from '../lambdas/domain/journal';
import { SUBSCRIBED_EVENT_TYPES } from '../lambdas/domain/stripe-events';
import type { DynamoDbJournal } from '../lambdas/shared/journal-store';
import { cliConfig, isoTime, parseCommandLine, progressBar, runCli, UsageError } from './cli-config';

export const USAGE = `usage: npm run events:backfill -- --since <ISO time> [--until <ISO time>] [--dry-run]
       npm run events:replay   -- (--order <orderId> | --since <ISO time>) [--dry-run]
       tsx bin/events.ts (backfill | replay) [options]

  backfill  lists Stripe's events of the types we handle (GET /v1/events; Stripe keeps 30 days)
            and enqueues those the journal lacks or marked failed, for the processor to apply:
            what a disabled endpoint or a wrong signing secret kept from us. Running it again
            once the processor caught up enqueues nothing.
  replay    re-applies events the journal holds (payload from the journal while kept, else
            fetched from Stripe by id), past the per-event idempotency record: safe because
            applying a fact is idempotent and order-independent.

  --since T    backfill: events created at or after T (at most 30 days ago);
               replay: journaled events Stripe created at or after T
  --until T    backfill: events created at or before T (default now)
  --order ID   replay: the events journaled for this order
  --in-flight-minutes M
               backfill: an event a backfill enqueued less than M minutes ago (default 20) and
               not processed yet is not enqueued again; 0 sends it again
  --dry-run    list what would be enqueued, enqueue nothing
  -h, --help   this text

  Local stack by default; STRIPE_SECRET_NAME, JOURNAL_TABLE_NAME, EVENTS_QUEUE_URL (and AWS
  credentials) select a deployed stack.`;

/** Stripe lists events of the last 30 days only. */
const STRIPE_EVENT_RETENTION_MS = 30 * 86_400_000;
const ATTRIBUTE_ALLOWANCE_BYTES = 1024;

interface QueueTarget {
  sqs: SQSClient;
  queueUrl: string;
  maxMessageBytes?: number;
}

interface Enqueueable {
  id: string;
  type: string;
  created: number;
  /** The event as JSON, when we have it; else the processor fetches it by id. */
  body: string | null;
}

/** Enqueues as the webhook does (a pointer when too large), ten per SendMessageBatch. */
async function enqueue(target: QueueTarget, events: Enqueueable[], source: 'backfill' | 'replay', onProgress: (done: number) => void): Promise<void> {
  const limit = (target.maxMessageBytes ?? EVENTS_QUEUE_MAX_MESSAGE_BYTES) - ATTRIBUTE_ALLOWANCE_BYTES;
  for (let i = 0; i < events.length; i += 10) {
    const batch = events.slice(i, i + 10);
    const { Failed = [] } = await target.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: target.queueUrl,
        Entries: batch.map((e, index) => ({
          Id: String(index),
          MessageBody: e.body !== null && Buffer.byteLength(e.body) <= limit ? e.body : JSON.stringify({ object: 'event_pointer', id: e.id, type: e.type, created: e.created }),
          MessageAttributes: {
            stripeEventId: { DataType: 'String', StringValue: e.id },
            stripeEventType: { DataType: 'String', StringValue: e.type },
            stripeEventCreated: { DataType: 'Number', StringValue: String(e.created) },
            source: { DataType: 'String', StringValue: source },
            ...(source === 'replay' ? { [REPLAY_ATTRIBUTE]: { DataType: 'String', StringValue: 'true' } } : {}),
          },
        })),
      }),
    );
    if (Failed.length > 0) throw new Error(`SQS refused ${Failed.length} message(s) (${Failed[0].Code}: ${Failed[0].Message}); ${i} enqueued before; run again: what was enqueued is skipped once processed.`);
    onProgress(Math.min(i + 10, events.length));
  }
}

export interface BackfillReport {
  window: { since: string; until: string };
  listed: number;
  alreadyJournaled: number;
  missing: string[];
  failed: string[];
  /** Enqueued by a backfill within the in-flight window and not processed yet: not enqueued again. */
  inFlight: string[];
  enqueued: number;
  dryRun: boolean;
}

export async function backfill(
  deps: { stripe: Stripe; journal: Pick<DynamoDbJournal, 'eventStates' | 'markBackfilled'>; queue: QueueTarget; progress?: typeof progressBar; now?: () => Date },
  options: { since: Date; until: Date; dryRun: boolean; inFlightMinutes?: number },
): Promise<BackfillReport> {
  const progress = deps.progress ?? (() => () => undefined);
  const created = { gte: Math.floor(options.since.getTime() / 1000), lte: Math.floor(options.until.getTime() / 1000) };
  const listed: Stripe.Event[] = [];
  for await (const event of deps.stripe.events.list({ created, types: [...SUBSCRIBED_EVENT_TYPES], limit: 100 })) listed.push(event);
  listed.reverse(); // oldest first: the processor copes with any order, a reader of the output prefers this one

  const report: BackfillReport = {
    window: { since: options.since.toISOString(), until: options.until.toISOString() },
    listed: listed.length,
    alreadyJournaled: 0,
    missing: [],
    failed: [],
    inFlight: [],
    enqueued: 0,
    dryRun: options.dryRun,
  };
  const now = (deps.now ?? (() => new Date()))();
  // Long enough for the processor to take a message off the queue (its delays reach 15 minutes).
  const inFlightSince = now.getTime() - (options.inFlightMinutes ?? 20) * 60_000;
  const checking = progress('checking journal', listed.length);
  const toEnqueue: Stripe.Event[] = [];
  for (let i = 0; i < listed.length; i += 100) {
    const page = listed.slice(i, i + 100);
    const states = await deps.journal.eventStates(page.map((e) => e.id));
    for (const event of page) {
      const state = states.get(event.id);
      if ((!state?.outcome || state.outcome === 'failed') && state?.backfilledAt && Date.parse(state.backfilledAt) > inFlightSince) {
        report.inFlight.push(event.id);
        continue;
      }
      if (!state?.outcome) report.missing.push(event.id);
      else if (state.outcome === 'failed') report.failed.push(event.id);
      else {
        report.alreadyJournaled++;
        continue;
      }
      toEnqueue.push(event);
    }
    checking(Math.min(i + 100, listed.length), `${toEnqueue.length} to enqueue`);
  }
  if (options.dryRun || toEnqueue.length === 0) return report;
  const sending = progress('enqueueing', toEnqueue.length);
  await enqueue(deps.queue, toEnqueue.map((e) => ({ id: e.id, type: e.type, created: e.created, body: JSON.stringify(e) })), 'backfill', (done) => {
    report.enqueued = done;
    sending(done);
  });
  await deps.journal.markBackfilled(toEnqueue.map((e) => e.id), now.toISOString());
  return report;
}

export interface ReplayReport {
  selected: number;
  fromJournal: number;
  fromStripe: number;
  enqueued: number;
  dryRun: boolean;
  events: { id: string; type: string; outcome: string }[];
}

export async function replay(
  deps: { journal: Pick<DynamoDbJournal, 'entriesOfOrder' | 'eventEntriesSince' | 'payloadOf'>; queue: QueueTarget; progress?: typeof progressBar },
  options: ({ orderId: string } | { since: Date }) & { dryRun: boolean },
): Promise<ReplayReport> {
  const entries = 'orderId' in options ? await deps.journal.entriesOfOrder(options.orderId) : await deps.journal.eventEntriesSince(options.since.toISOString());
  const events = entries
    .filter((e): e is Extract<JournalEntry, { kind: 'stripe_event' }> => e.kind === 'stripe_event')
    .sort((a, b) => a.created - b.created || a.stripeEventId.localeCompare(b.stripeEventId));
  const report: ReplayReport = { selected: events.length, fromJournal: 0, fromStripe: 0, enqueued: 0, dryRun: options.dryRun, events: events.map((e) => ({ id: e.stripeEventId, type: e.type, outcome: e.outcome })) };
  if (options.dryRun || events.length === 0) return report;
  const toSend: Enqueueable[] = [];
  for (const e of events) {
    const body = (await deps.journal.payloadOf(e.stripeEventId)) ?? null;
    if (body) report.fromJournal++;
    else report.fromStripe++;
    toSend.push({ id: e.stripeEventId, type: e.type, created: e.created, body });
  }
  const sending = (deps.progress ?? (() => () => undefined))('replaying', toSend.length);
  await enqueue(deps.queue, toSend, 'replay', (done) => {
    report.enqueued = done;
    sending(done);
  });
  return report;
}

export function parseEventsCommandLine(args: string[], now = new Date()) {
  const { values, positionals } = parseCommandLine(
    args,
    { since: { type: 'string' }, until: { type: 'string' }, order: { type: 'string' }, 'dry-run': { type: 'boolean' }, json: { type: 'boolean' }, 'in-flight-minutes': { type: 'string' } },
    true,
  );
  if (values.help) return { help: true as const };
  const [command, ...extra] = positionals;
  if (command !== 'backfill' && command !== 'replay') throw new UsageError(command ? `Unknown command "${command}".` : 'Say backfill or replay.');
  if (extra.length) throw new UsageError(`Unexpected argument "${extra[0]}".`);
  const dryRun = values['dry-run'] ?? false;
  const json = values.json ?? false;
  if (command === 'backfill') {
    if (values.order !== undefined) throw new UsageError('--order is for replay; backfill takes --since [--until].');
    if (values.since === undefined) throw new UsageError('backfill needs --since.');
    const since = isoTime('since', values.since);
    const until = values.until === undefined ? now : isoTime('until', values.until);
    if (since > until) throw new UsageError('--since must not be after --until.');
    if (now.getTime() - since.getTime() > STRIPE_EVENT_RETENTION_MS) throw new UsageError('--since is more than 30 days ago: Stripe lists events of the last 30 days only.');
    const inFlightText = values['in-flight-minutes'] ?? '20';
    if (!/^\d+$/.test(inFlightText) || Number(inFlightText) > 1440) throw new UsageError(`--in-flight-minutes takes 0 to 1440, not "${inFlightText}".`);
    return { help: false as const, command: 'backfill' as const, since, until, dryRun, json, inFlightMinutes: Number(inFlightText) };
  }
  if (values.until !== undefined || values['in-flight-minutes'] !== undefined) throw new UsageError('--until and --in-flight-minutes are for backfill.');
  if ((values.order === undefined) === (values.since === undefined)) throw new UsageError('replay takes exactly one of --order and --since.');
  if (values.order !== undefined && !/^ord_[0-9a-f]{32}$/.test(values.order)) throw new UsageError(`"${values.order}" is not an order id.`);
  return values.order !== undefined
    ? { help: false as const, command: 'replay' as const, orderId: values.order, dryRun, json }
    : { help: false as const, command: 'replay' as const, since: isoTime('since', values.since!), dryRun, json };
}

async function main(args: string[]): Promise<number> {
  const options = parseEventsCommandLine(args);
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  const config = cliConfig();
  if (!config.queueUrl) throw new Error('Set EVENTS_QUEUE_URL (the stack output EventsQueueUrl).');
  const { dynamoDbClient } = await import('../lambdas/shared/aws-clients');
  const { DynamoDbJournal } = await import('../lambdas/shared/journal-store');
  const { sqsClientFor } = await import('./dlq');
  const dynamoDb = dynamoDbClient();
  const sqs = sqsClientFor(config.queueUrl);
  const journal = new DynamoDbJournal(dynamoDb, config.journalTableName);
  const queue = { sqs, queueUrl: config.queueUrl };
  try {
    if (options.command === 'backfill') {
      const { stripeClient } = await import('../lambdas/shared/stripe-gateway');
      const report = await backfill({ stripe: await stripeClient(), journal, queue, progress: progressBar }, options);
      if (options.json) console.log(JSON.stringify(report, null, 2));
      else {
        console.log(`Backfill ${report.window.since} → ${report.window.until}${report.dryRun ? ' (dry run)' : ''}`);
        console.log(`  ${report.listed} events at Stripe of the handled types; ${report.alreadyJournaled} already processed`);
        console.log(`  ${report.missing.length} never received, ${report.failed.length} failed when received`);
        if (report.inFlight.length) console.log(`  ${report.inFlight.length} enqueued by a backfill in the last ${options.inFlightMinutes} minutes and not processed yet: left alone (--in-flight-minutes 0 to send again)`);
        for (const id of [...report.missing, ...report.failed]) console.log(`    ${id}${report.failed.includes(id) ? ' (failed)' : ''}`);
        console.log(report.dryRun ? `  would enqueue ${report.missing.length + report.failed.length}` : `  enqueued ${report.enqueued}`);
      }
      return 0;
    }
    const selection = 'orderId' in options && options.orderId !== undefined ? { orderId: options.orderId } : { since: options.since! };
    const report = await replay({ journal, queue, progress: progressBar }, { ...selection, dryRun: options.dryRun });
    if (options.json) console.log(JSON.stringify(report, null, 2));
    else {
      console.log(`Replay of ${report.selected} journaled event(s)${report.dryRun ? ' (dry run)' : ''}`);
      for (const e of report.events) console.log(`    ${e.id} ${e.type} (last outcome ${e.outcome})`);
      if (!report.dryRun) console.log(`  enqueued ${report.enqueued} (${report.fromJournal} from the journal, ${report.fromStripe} fetched from Stripe by the processor)`);
    }
    return 0;
  } finally {
    dynamoDb.destroy();
    sqs.destroy();
  }
}

if (require.main === module) runCli(USAGE, main);
