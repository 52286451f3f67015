#!/usr/bin/env node
import {
  ChangeMessageVisibilityBatchCommand,
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  ReceiveMessageCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
  type ListMessageMoveTasksResultEntry,
} from '@aws-sdk/client-sqs';
import { parseArgs } from 'node:util';

export const USAGE = `usage: npm run dlq:list    -- [--queue-url URL] [--max N]
       npm run dlq:redrive -- [--queue-url URL] [--timeout-seconds N]
       tsx bin/dlq.ts (list | redrive) [options]

  list      what is in the Stripe events DLQ (event id, type, receive count, first sent)
  redrive   move every DLQ message back to the queue it came from (SQS StartMessageMoveTask)

  --queue-url URL        the DLQ; default $EVENTS_DLQ_URL, then the local stack's DLQ
                         (an http:// URL also selects that local SQS endpoint)
  --max N                list at most N messages (1-1000, default 10)
  --timeout-seconds N    how long redrive waits for its move task (default 120)
  -h, --help             this text`;

export const LOCAL_DLQ_URL = `http://127.0.0.1:${process.env.SQS_PORT ?? 9324}/000000000000/stripe-events-dlq`;

export function sqsClientFor(queueUrl: string): SQSClient {
  const url = new URL(queueUrl);
  if (url.protocol === 'http:') {
    return new SQSClient({ endpoint: url.origin, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  }
  const region = /^sqs\.([\w-]+)\.amazonaws\.com/.exec(url.host)?.[1];
  return new SQSClient(region ? { region } : {});
}

export interface DeadLetter {
  messageId: string;
  stripeEventId: string | undefined;
  stripeEventType: string | undefined;
  /** ApproximateReceiveCount before this listing received the message. */
  receiveCount: number;
  sentAt: string;
}

export interface QueueDepth {
  visible: number;
  inFlight: number;
  delayed: number;
}

export interface DeadLetterListing {
  letters: DeadLetter[];
  /** The queue's approximate counts once the listing has released what it held. */
  depth: QueueDepth;
}

// Long enough for a listing of --max 1000 (100 receives), after which everything is released.
const HOLD_SECONDS = 120;

/**
 * Lists without consuming. SQS has no peek: a receive is the only way to read a message, and
 * each one adds to ApproximateReceiveCount. So each message is received once per listing (held
 * invisible until the listing ends, then released with visibility 0) and reported with the count
 * it had before. Long polls, not short ones: a short poll samples a subset of SQS's servers and
 * can come back empty from a queue that is not (SQS Developer Guide, "Amazon SQS short and long
 * polling"). The queue's counts are read at the end, so "empty" is said only when SQS agrees.
 */
export async function listDeadLetters(sqs: SQSClient, queueUrl: string, max = 10): Promise<DeadLetterListing> {
  const letters = new Map<string, DeadLetter>();
  const held: string[] = [];
  try {
    while (letters.size < max) {
      const { Messages } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: Math.min(10, max - letters.size),
          WaitTimeSeconds: 1,
          VisibilityTimeout: HOLD_SECONDS,
          MessageAttributeNames: ['All'],
          MessageSystemAttributeNames: ['All'],
        }),
      );
      if (!Messages?.length) break;
      for (const m of Messages) {
        held.push(m.ReceiptHandle!);
        // Standard queues deliver at least once: the same message may come twice.
        if (letters.has(m.MessageId!)) continue;
        letters.set(m.MessageId!, {
          messageId: m.MessageId!,
          stripeEventId: m.MessageAttributes?.stripeEventId?.StringValue,
          stripeEventType: m.MessageAttributes?.stripeEventType?.StringValue,
          receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 1) - 1,
          sentAt: new Date(Number(m.Attributes?.SentTimestamp ?? 0)).toISOString(),
        });
      }
    }
  } finally {
    await release(sqs, queueUrl, held);
  }
  return { letters: [...letters.values()].slice(0, max), depth: await queueDepth(sqs, queueUrl) };
}

/** Makes held messages visible again, so a redrive (or the next listing) finds them at once. */
async function release(sqs: SQSClient, queueUrl: string, receiptHandles: string[]) {
  for (let i = 0; i < receiptHandles.length; i += 10) {
    const entries = receiptHandles.slice(i, i + 10).map((ReceiptHandle, n) => ({ Id: `m${i + n}`, ReceiptHandle, VisibilityTimeout: 0 }));
    const { Failed = [] } = await sqs.send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
    // A duplicate delivery's older handle is refused; the message is released through its newer one.
    for (const f of Failed) if (f.Code !== 'InvalidParameterValue') console.error(`Could not release a message (${f.Code}); it is visible again within ${HOLD_SECONDS} s.`);
  }
}

export async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<QueueDepth> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'] }),
  );
  return {
    visible: Number(Attributes.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
    delayed: Number(Attributes.ApproximateNumberOfMessagesDelayed ?? 0),
  };
}

export function describeListing(queueUrl: string, { letters, depth }: DeadLetterListing): string {
  const total = depth.visible + depth.inFlight + depth.delayed;
  if (letters.length === 0 && total === 0) return `The DLQ is empty (${queueUrl}).`;
  if (letters.length === 0) {
    return `The DLQ is not empty (${queueUrl}): about ${total} message(s), none visible right now (${depth.inFlight} being received by someone else, ${depth.delayed} delayed). Run the listing again in a minute.`;
  }
  const header = `${letters.length} message(s) listed, about ${total} in the DLQ (${queueUrl}). receiveCount is before this listing, which adds one (SQS has no peek).`;
  const rows = letters.map((l) => [l.stripeEventId ?? '(no stripeEventId)', l.stripeEventType ?? '-', String(l.receiveCount), l.sentAt, l.messageId].join('  '));
  return [header, ['stripeEventId', 'type', 'receiveCount', 'sentAt', 'messageId'].join('  '), ...rows].join('\n');
}

export interface RedriveOptions {
  timeoutMs?: number;
  pollMs?: number;
}

/**
 * Starts a move task back to the source queue and waits for it to end. The task runs
 * asynchronously, and ListMessageMoveTasks shows its TaskHandle only while it is RUNNING
 * (API Reference, ListMessageMoveTasksResultEntry), so a finished task is recognised as the
 * newest one that was not there before we started it.
 */
export async function redriveDeadLetters(sqs: SQSClient, queueUrl: string, { timeoutMs = 120_000, pollMs = 1000 }: RedriveOptions = {}): Promise<number> {
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
  const sourceArn = Attributes!.QueueArn!;
  const tasks = async () => (await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: sourceArn, MaxResults: 10 }))).Results ?? [];
  // One task at a time per queue, so a start time (and destination) tells tasks apart.
  const key = (t: ListMessageMoveTasksResultEntry) => `${t.StartedTimestamp}:${t.DestinationArn ?? ''}`;
  const before = await tasks();
  const running = before.find((t) => t.Status === 'RUNNING');
  if (running) throw new Error(`A move task is already running on this DLQ (${running.ApproximateNumberOfMessagesMoved ?? 0} of ${running.ApproximateNumberOfMessagesToMove ?? '?'} moved); wait for it, or cancel it with \`aws sqs cancel-message-move-task --task-handle ${running.TaskHandle}\`.`);
  const known = new Set(before.map(key));
  const { TaskHandle } = await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: sourceArn }));
  const deadline = Date.now() + timeoutMs;
  let startedAt: number | undefined;
  for (;;) {
    const results = await tasks();
    const task = results.find((t) => t.TaskHandle === TaskHandle) ?? results.find((t) => (startedAt !== undefined ? t.StartedTimestamp === startedAt : !known.has(key(t))));
    if (task?.Status === 'RUNNING') startedAt = task.StartedTimestamp;
    if (task?.Status === 'COMPLETED') return task.ApproximateNumberOfMessagesMoved ?? 0;
    if (task?.Status === 'FAILED') throw new Error(`The move task failed after moving ${task.ApproximateNumberOfMessagesMoved ?? 0} message(s): ${task.FailureReason ?? 'no reason given'}`);
    if (task?.Status === 'CANCELLED') throw new Error(`The move task was cancelled after moving ${task.ApproximateNumberOfMessagesMoved ?? 0} message(s).`);
    if (Date.now() > deadline) {
      throw new Error(`The move task is still running (${task?.ApproximateNumberOfMessagesMoved ?? 0} moved so far); check it with \`aws sqs list-message-move-tasks --source-arn ${sourceArn}\`.`);
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

class UsageError extends Error {}

function positiveInteger(name: string, value: string, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > max) throw new UsageError(`--${name} must be a whole number from 1 to ${max}, not "${value}".`);
  return n;
}

export function parseCommandLine(args: string[]) {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        'queue-url': { type: 'string' },
        max: { type: 'string', default: '10' },
        'timeout-seconds': { type: 'string', default: '120' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { positionals, values } = parsed;
  if (values.help) return { help: true as const };
  const [command, ...extra] = positionals;
  if (command !== 'list' && command !== 'redrive') throw new UsageError(command ? `Unknown command "${command}".` : 'Say list or redrive.');
  if (extra.length) throw new UsageError(`Unexpected argument "${extra[0]}".`);
  const queueUrl = values['queue-url'] ?? process.env.EVENTS_DLQ_URL ?? LOCAL_DLQ_URL;
  if (!URL.canParse(queueUrl)) throw new UsageError(`--queue-url must be a queue URL, not "${queueUrl}".`);
  return {
    help: false as const,
    command,
    queueUrl,
    max: positiveInteger('max', values.max!, 1000),
    timeoutMs: positiveInteger('timeout-seconds', values['timeout-seconds']!, 86_400) * 1000,
  };
}

async function main(args: string[]): Promise<number> {
  let options;
  try {
    options = parseCommandLine(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  const sqs = sqsClientFor(options.queueUrl);
  try {
    if (options.command === 'list') {
      console.log(describeListing(options.queueUrl, await listDeadLetters(sqs, options.queueUrl, options.max)));
    } else {
      const moved = await redriveDeadLetters(sqs, options.queueUrl, { timeoutMs: options.timeoutMs });
      console.log(`Moved ${moved} message(s) from ${options.queueUrl} back to their source queue.`);
    }
    return 0;
  } finally {
    sqs.destroy();
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exitCode = 1;
    },
  );
}
