import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { integerParameter, SqsError } from './errors';
import { BATCH_MAX_BYTES, messageBytes, type SendEntry } from './messages';
import { MoveTasks } from './move-tasks';
import { QueueStore, type Queue } from './queues';

/**
 * A local SQS speaking the JSON protocol of the current AWS SDK (`X-Amz-Target: AmazonSQS.*`,
 * `application/x-amz-json-1.0`). Standard queues only, as strict as the SQS API Reference:
 * validated receipt handles, batch ids, sizes, attributes and parameters; visibility timeouts,
 * long polling, receive counts, redrive to a DLQ after maxReceiveCount, and asynchronous
 * message move tasks to redrive it back.
 *
 * Where SQS is nondeterministic the default is the predictable reading of its documentation,
 * and the options below make the emulator behave the hard way on demand.
 */
export interface SqsEmulatorOptions {
  port?: number;
  host?: string;
  region?: string;
  accountId?: string;
  /**
   * 'sampled': a short poll (WaitTimeSeconds 0) sees each available message with probability 1/2,
   * as SQS's short polls query a random subset of servers and may come back empty while the queue
   * holds messages. Long polls always see everything. @default 'complete'
   */
  shortPolls?: 'complete' | 'sampled';
  /**
   * DeleteMessage with a superseded receipt handle (the message was received again since) always
   * succeeds; 'ignored' leaves the message in the queue, 'deletes' deletes it. SQS documents that
   * the message "might not be deleted". @default 'ignored'
   */
  staleReceiptHandles?: 'ignored' | 'deletes';
  /**
   * Highest rate of a message move task, in messages per second; 0 keeps tasks RUNNING until
   * cancelled. Tasks are asynchronous whatever the rate. @default 500, the SQS maximum
   */
  moveTaskMessagesPerSecond?: number;
  /** Source of randomness for sampled short polls. @default Math.random */
  random?: () => number;
  /** Clock for message timestamps, visibility, retention and the 60-second rules (ms). Waiting always uses real time. @default Date.now */
  clock?: () => number;
}

export interface SqsEmulator {
  url: string;
  port: number;
  /** The live queues by name, messages included: what `npm start --persist` snapshots and refills. */
  readonly queues: ReadonlyMap<string, { messages: object[] }>;
  close(): Promise<void>;
}

type Input = Record<string, any>;

/**
 * Ids of batch entries: distinct, 1 to 80 alphanumerics, hyphens or underscores; otherwise the
 * whole batch is refused (SendMessageBatch, BatchEntryIdsNotDistinct and InvalidBatchEntryId).
 */
function checkBatch(entries: unknown): { Id: string }[] {
  if (!Array.isArray(entries) || entries.length === 0) throw new SqsError('EmptyBatchRequest', 'There should be at least one SendMessageBatchRequestEntry in the request.');
  if (entries.length > 10) throw new SqsError('TooManyEntriesInBatchRequest', `Maximum number of entries per request are 10. You have sent ${entries.length}.`);
  const ids = new Set<string>();
  for (const entry of entries as { Id?: unknown }[]) {
    if (typeof entry?.Id !== 'string' || !/^[A-Za-z0-9_-]{1,80}$/.test(entry.Id)) {
      throw new SqsError('InvalidBatchEntryId', `A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.`);
    }
    if (ids.has(entry.Id)) throw new SqsError('BatchEntryIdsNotDistinct', `Id ${entry.Id} repeated.`);
    ids.add(entry.Id);
  }
  return entries as { Id: string }[];
}

/** Runs each entry; an entry's own error goes to Failed, the others still run. */
function eachEntry<T extends { Id: string }>(entries: T[], each: (entry: T) => Record<string, unknown> | void) {
  const Successful: Record<string, unknown>[] = [];
  const Failed: Record<string, unknown>[] = [];
  for (const entry of entries) {
    try {
      Successful.push({ Id: entry.Id, ...(each(entry) ?? {}) });
    } catch (error) {
      if (!(error instanceof SqsError)) throw error;
      Failed.push({ Id: entry.Id, SenderFault: true, Code: error.code, Message: error.message });
    }
  }
  return { Successful, Failed };
}

/** The bytes a SendMessageBatch carries, counted as SQS counts them against the 1 MiB batch limit. */
function batchBytes(entries: SendEntry[]): number {
  return entries.reduce((sum, e) => sum + (typeof e.MessageBody === 'string' ? messageBytes(e.MessageBody, e.MessageAttributes ?? {}) : 0), 0);
}

export async function startSqsEmulator(options: SqsEmulatorOptions = {}): Promise<SqsEmulator> {
  const clock = options.clock ?? Date.now;
  const queues = new QueueStore(options.region ?? 'us-east-1', options.accountId ?? '000000000000', {
    clock,
    random: options.random ?? Math.random,
    shortPolls: options.shortPolls ?? 'complete',
    staleReceiptHandles: options.staleReceiptHandles ?? 'ignored',
  });
  const moveTasks = new MoveTasks(queues, options.moveTaskMessagesPerSecond ?? 500, clock);
  let closing = false;

  const receive = async (input: Input) => {
    const queue = queues.byUrl(input.QueueUrl);
    const maxNumberOfMessages = integerParameter('MaxNumberOfMessages', input.MaxNumberOfMessages, 1, 10) ?? 1;
    const waitSeconds = integerParameter('WaitTimeSeconds', input.WaitTimeSeconds, 0, 20) ?? Number(queue.attributes.ReceiveMessageWaitTimeSeconds);
    const visibilityTimeoutSeconds = integerParameter('VisibilityTimeout', input.VisibilityTimeout, 0, 43_200);
    const parameters = {
      maxNumberOfMessages,
      visibilityTimeoutSeconds,
      systemAttributeNames: [...(input.AttributeNames ?? []), ...(input.MessageSystemAttributeNames ?? [])],
      messageAttributeNames: input.MessageAttributeNames ?? [],
      shortPoll: waitSeconds === 0,
    };
    const deadline = Date.now() + waitSeconds * 1000;
    for (;;) {
      const messages = queues.receiveNow(queue, parameters);
      // An empty receive has no Messages member at all: the SDK then gives `Messages: undefined`.
      if (messages.length > 0) return { Messages: messages };
      if (Date.now() >= deadline || closing) return {};
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  const sendBatch = (queue: Queue, entries: SendEntry[]) => {
    if (batchBytes(entries) > BATCH_MAX_BYTES) {
      throw new SqsError('BatchRequestTooLong', `Batch requests cannot be longer than ${BATCH_MAX_BYTES} bytes. You have sent ${batchBytes(entries)} bytes.`);
    }
    return eachEntry(entries as (SendEntry & { Id: string })[], (entry) => queues.send(queue, entry));
  };

  const operations: Record<string, (input: Input) => unknown> = {
    CreateQueue: (input) => ({ QueueUrl: queues.create(input.QueueName, input.Attributes).url }),
    GetQueueUrl: (input) => ({ QueueUrl: queues.byName(input.QueueName).url }),
    ListQueues: (input) => {
      const urls = queues.list(input.QueueNamePrefix).map((q) => q.url);
      return urls.length ? { QueueUrls: urls } : {};
    },
    GetQueueAttributes: (input) => {
      const attributes = queues.getAttributes(queues.byUrl(input.QueueUrl), input.AttributeNames);
      return Object.keys(attributes).length ? { Attributes: attributes } : {};
    },
    SetQueueAttributes: (input) => {
      queues.setAttributes(queues.byUrl(input.QueueUrl), input.Attributes);
      return {};
    },
    SendMessage: (input) => queues.send(queues.byUrl(input.QueueUrl), input),
    SendMessageBatch: (input) => {
      const queue = queues.byUrl(input.QueueUrl);
      return sendBatch(queue, checkBatch(input.Entries) as SendEntry[]);
    },
    ReceiveMessage: receive,
    DeleteMessage: (input) => {
      queues.deleteMessage(queues.byUrl(input.QueueUrl), input.ReceiptHandle);
      return {};
    },
    DeleteMessageBatch: (input) => {
      const queue = queues.byUrl(input.QueueUrl);
      return eachEntry(checkBatch(input.Entries) as { Id: string; ReceiptHandle?: string }[], (entry) => queues.deleteMessage(queue, entry.ReceiptHandle));
    },
    ChangeMessageVisibility: (input) => {
      queues.changeVisibility(queues.byUrl(input.QueueUrl), input.ReceiptHandle, input.VisibilityTimeout);
      return {};
    },
    ChangeMessageVisibilityBatch: (input) => {
      const queue = queues.byUrl(input.QueueUrl);
      const entries = checkBatch(input.Entries) as { Id: string; ReceiptHandle?: string; VisibilityTimeout?: number }[];
      return eachEntry(entries, (entry) => queues.changeVisibility(queue, entry.ReceiptHandle, entry.VisibilityTimeout));
    },
    PurgeQueue: (input) => {
      queues.purge(queues.byUrl(input.QueueUrl));
      return {};
    },
    DeleteQueue: (input) => {
      queues.delete(queues.byUrl(input.QueueUrl));
      return {};
    },
    StartMessageMoveTask: (input) => moveTasks.start(input),
    ListMessageMoveTasks: (input) => moveTasks.list(input),
    CancelMessageMoveTask: (input) => moveTasks.cancel(input),
  };

  const reply = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'Content-Type': 'application/x-amz-json-1.0', 'x-amzn-RequestId': randomUUID(), ...headers });
    res.end(JSON.stringify(body));
  };
  const replyError = (res: ServerResponse, error: SqsError) =>
    reply(res, 400, { __type: `com.amazonaws.sqs#${error.code}`, message: error.message }, { 'x-amzn-query-error': `${error.queryCode};Sender` });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const target = String(req.headers['x-amz-target'] ?? '');
    const operation = target.startsWith('AmazonSQS.') ? operations[target.slice('AmazonSQS.'.length)] : undefined;
    if (req.method !== 'POST' || !operation) return replyError(res, new SqsError('InvalidAction', `The action ${target || '(none)'} is not valid for this endpoint.`));
    let input: Input;
    try {
      input = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
    } catch {
      return replyError(res, new SqsError('InvalidParameterValue', 'The request body is not JSON.'));
    }
    try {
      reply(res, 200, await operation(input));
    } catch (error) {
      if (!(error instanceof SqsError)) throw error;
      replyError(res, error);
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) reply(res, 500, { __type: 'com.amazonaws.sqs#InternalError', message: String(error) });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  queues.baseUrl = `http://${options.host ?? '127.0.0.1'}:${port}`;
  return {
    url: queues.baseUrl,
    port,
    queues: queues.all,
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        moveTasks.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
