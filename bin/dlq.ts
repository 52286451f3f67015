#!/usr/bin/env node
import {
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  ReceiveMessageCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { parseArgs } from 'node:util';

/**
 * Operations on the Stripe events DLQ (docs/RUNBOOK.md):
 *   npm run dlq:list    -- [--queue-url URL] [--max 10]   what is in it, without consuming it
 *   npm run dlq:redrive -- [--queue-url URL]              move everything back with SQS's own
 *                                                         StartMessageMoveTask (to the source queue)
 * The URL defaults to $EVENTS_DLQ_URL, then to the local stack's DLQ. A local (http) URL also
 * selects the local SQS endpoint, so the same command works against `npm start`.
 */
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
  receiveCount: number;
  sentAt: string;
}

/** Peeks: receives with a zero visibility timeout, so the messages stay available for a redrive. */
export async function listDeadLetters(sqs: SQSClient, queueUrl: string, max = 10): Promise<DeadLetter[]> {
  const seen = new Map<string, DeadLetter>();
  for (let attempt = 0; attempt < 3 && seen.size < max; attempt++) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: Math.min(10, max), VisibilityTimeout: 0, MessageAttributeNames: ['All'], MessageSystemAttributeNames: ['All'] }),
    );
    for (const m of Messages) {
      seen.set(m.MessageId!, {
        messageId: m.MessageId!,
        stripeEventId: m.MessageAttributes?.stripeEventId?.StringValue,
        stripeEventType: m.MessageAttributes?.stripeEventType?.StringValue,
        receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 0),
        sentAt: new Date(Number(m.Attributes?.SentTimestamp ?? 0)).toISOString(),
      });
    }
    if (Messages.length === 0) break;
  }
  return [...seen.values()].slice(0, max);
}

/** Starts a move task back to the source queue and waits for it to finish. */
export async function redriveDeadLetters(sqs: SQSClient, queueUrl: string, timeoutMs = 120_000): Promise<number> {
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
  const sourceArn = Attributes!.QueueArn!;
  const { TaskHandle } = await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: sourceArn }));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { Results = [] } = await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: sourceArn, MaxResults: 10 }));
    const task = Results.find((t) => t.TaskHandle === TaskHandle) ?? Results[0];
    if (task?.Status === 'COMPLETED') return task.ApproximateNumberOfMessagesMoved ?? 0;
    if (task?.Status === 'FAILED' || task?.Status === 'CANCELLED') throw new Error(`Move task ${task.Status}: ${task.FailureReason ?? 'no reason given'}`);
    if (Date.now() > deadline) throw new Error('The move task is still running; check it with `aws sqs list-message-move-tasks`');
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

async function main() {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { 'queue-url': { type: 'string' }, max: { type: 'string', default: '10' } },
  });
  const queueUrl = values['queue-url'] ?? process.env.EVENTS_DLQ_URL ?? LOCAL_DLQ_URL;
  const sqs = sqsClientFor(queueUrl);
  switch (positionals[0]) {
    case 'list': {
      const letters = await listDeadLetters(sqs, queueUrl, Number(values.max));
      if (letters.length === 0) console.log(`The DLQ is empty (${queueUrl}).`);
      else console.table(letters);
      break;
    }
    case 'redrive':
      console.log(`Moved ${await redriveDeadLetters(sqs, queueUrl)} message(s) from ${queueUrl} back to their source queue.`);
      break;
    default:
      console.error('usage: dlq (list | redrive) [--queue-url URL] [--max N]');
      process.exitCode = 2;
  }
  sqs.destroy();
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
