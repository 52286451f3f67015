import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local SQS speaking the JSON protocol of the current AWS SDK (`X-Amz-Target: AmazonSQS.*`,
 * `application/x-amz-json-1.0`). Standard queues only, with the behaviours this backend relies
 * on: visibility timeouts, long polling, receive counts, redrive to a DLQ after
 * maxReceiveCount, and StartMessageMoveTask to redrive it back.
 */
export interface SqsEmulatorOptions {
  port?: number;
  host?: string;
  region?: string;
  accountId?: string;
}

interface MessageAttributeValue {
  DataType: string;
  StringValue?: string;
  BinaryValue?: string;
}

interface StoredMessage {
  messageId: string;
  body: string;
  md5OfBody: string;
  attributes: Record<string, MessageAttributeValue>;
  md5OfAttributes: string | undefined;
  sentAt: number;
  visibleAt: number;
  receiveCount: number;
  firstReceivedAt: number | undefined;
  receiptHandles: Set<string>;
  currentReceiptHandle: string | undefined;
  /** Where the message was before it was dead-lettered: the default redrive destination. */
  deadLetterSourceArn: string | undefined;
}

interface Queue {
  name: string;
  arn: string;
  url: string;
  createdAt: number;
  attributes: Record<string, string>;
  messages: StoredMessage[];
}

interface MoveTask {
  TaskHandle: string;
  SourceArn: string;
  DestinationArn?: string;
  Status: 'COMPLETED';
  ApproximateNumberOfMessagesMoved: number;
  ApproximateNumberOfMessagesToMove: number;
  StartedTimestamp: number;
}

class SqsError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly queryCode = code,
  ) {
    super(message);
  }
}

const md5 = (data: string | Buffer) => createHash('md5').update(data).digest('hex');

/** AWS's checksum of message attributes: name, type and value, length-prefixed, sorted by name. */
export function md5OfMessageAttributes(attributes: Record<string, MessageAttributeValue>): string | undefined {
  const names = Object.keys(attributes).sort();
  if (names.length === 0) return undefined;
  const chunks: Buffer[] = [];
  const lengthPrefixed = (bytes: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    chunks.push(length, bytes);
  };
  for (const name of names) {
    const value = attributes[name];
    lengthPrefixed(Buffer.from(name, 'utf8'));
    lengthPrefixed(Buffer.from(value.DataType, 'utf8'));
    if (value.BinaryValue !== undefined) {
      chunks.push(Buffer.from([2]));
      lengthPrefixed(Buffer.from(value.BinaryValue, 'base64'));
    } else {
      chunks.push(Buffer.from([1]));
      lengthPrefixed(Buffer.from(value.StringValue ?? '', 'utf8'));
    }
  }
  return md5(Buffer.concat(chunks));
}

const DEFAULT_ATTRIBUTES = { VisibilityTimeout: '30', MessageRetentionPeriod: '345600', DelaySeconds: '0', ReceiveMessageWaitTimeSeconds: '0', MaximumMessageSize: '262144' };

export interface SqsEmulator {
  url: string;
  port: number;
  /** The live queues by name, messages included: what `npm start --persist` snapshots and refills. */
  readonly queues: ReadonlyMap<string, { messages: object[] }>;
  close(): Promise<void>;
}

export async function startSqsEmulator(options: SqsEmulatorOptions = {}): Promise<SqsEmulator> {
  const region = options.region ?? 'us-east-1';
  const accountId = options.accountId ?? '000000000000';
  const queues = new Map<string, Queue>();
  const moveTasks: MoveTask[] = [];
  let baseUrl = '';
  let closing = false;

  const queueByUrl = (url: unknown): Queue => {
    const name = typeof url === 'string' ? url.split('/').pop() : undefined;
    const queue = name ? queues.get(name) : undefined;
    if (!queue) throw new SqsError('QueueDoesNotExist', 'The specified queue does not exist.', 'AWS.SimpleQueueService.NonExistentQueue');
    return queue;
  };
  const queueByArn = (arn: unknown): Queue => {
    const queue = [...queues.values()].find((q) => q.arn === arn);
    if (!queue) throw new SqsError('ResourceNotFoundException', `Queue ${String(arn)} does not exist.`);
    return queue;
  };
  const redrivePolicy = (queue: Queue): { deadLetterTargetArn: string; maxReceiveCount: number } | undefined =>
    queue.attributes.RedrivePolicy ? JSON.parse(queue.attributes.RedrivePolicy) : undefined;

  const seconds = (queue: Queue, name: keyof typeof DEFAULT_ATTRIBUTES) => Number(queue.attributes[name]);

  /** Drops expired messages and dead-letters those received maxReceiveCount times. */
  const housekeep = (queue: Queue, now: number) => {
    queue.messages = queue.messages.filter((m) => now - m.sentAt < seconds(queue, 'MessageRetentionPeriod') * 1000);
    const policy = redrivePolicy(queue);
    if (!policy) return;
    const dlq = [...queues.values()].find((q) => q.arn === policy.deadLetterTargetArn);
    if (!dlq) return;
    for (const message of [...queue.messages]) {
      if (message.visibleAt <= now && message.receiveCount >= Number(policy.maxReceiveCount)) {
        queue.messages.splice(queue.messages.indexOf(message), 1);
        dlq.messages.push({ ...message, visibleAt: now, deadLetterSourceArn: queue.arn, receiptHandles: new Set(), currentReceiptHandle: undefined });
      }
    }
  };

  const store = (queue: Queue, entry: { MessageBody?: unknown; DelaySeconds?: number; MessageAttributes?: Record<string, MessageAttributeValue> }) => {
    if (typeof entry.MessageBody !== 'string' || entry.MessageBody.length === 0) {
      throw new SqsError('MissingParameter', 'The request must contain the parameter MessageBody.');
    }
    if (Buffer.byteLength(entry.MessageBody) > Number(queue.attributes.MaximumMessageSize)) {
      throw new SqsError('InvalidParameterValue', `One or more parameters are invalid. Reason: Message must be shorter than ${queue.attributes.MaximumMessageSize} bytes.`);
    }
    const attributes = entry.MessageAttributes ?? {};
    const now = Date.now();
    const message: StoredMessage = {
      messageId: randomUUID(),
      body: entry.MessageBody,
      md5OfBody: md5(entry.MessageBody),
      attributes,
      md5OfAttributes: md5OfMessageAttributes(attributes),
      sentAt: now,
      visibleAt: now + (entry.DelaySeconds ?? seconds(queue, 'DelaySeconds')) * 1000,
      receiveCount: 0,
      firstReceivedAt: undefined,
      receiptHandles: new Set(),
      currentReceiptHandle: undefined,
      deadLetterSourceArn: undefined,
    };
    queue.messages.push(message);
    return { MessageId: message.messageId, MD5OfMessageBody: message.md5OfBody, ...(message.md5OfAttributes ? { MD5OfMessageAttributes: message.md5OfAttributes } : {}) };
  };

  const receiveNow = (queue: Queue, input: Record<string, any>) => {
    const now = Date.now();
    housekeep(queue, now);
    const max = Math.min(Math.max(Number(input.MaxNumberOfMessages ?? 1), 1), 10);
    const visibility = Number(input.VisibilityTimeout ?? seconds(queue, 'VisibilityTimeout'));
    const wantedSystem: string[] = [...(input.AttributeNames ?? []), ...(input.MessageSystemAttributeNames ?? [])];
    const wantedAttributes: string[] = input.MessageAttributeNames ?? [];
    const picked = queue.messages.filter((m) => m.visibleAt <= now).slice(0, max);
    return picked.map((m) => {
      m.receiveCount += 1;
      m.firstReceivedAt ??= now;
      m.visibleAt = now + visibility * 1000;
      const handle = Buffer.from(`${m.messageId}:${randomUUID()}`).toString('base64');
      m.receiptHandles.add(handle);
      m.currentReceiptHandle = handle;
      const system: Record<string, string> = {
        ApproximateReceiveCount: String(m.receiveCount),
        SentTimestamp: String(m.sentAt),
        ApproximateFirstReceiveTimestamp: String(m.firstReceivedAt),
        SenderId: accountId,
        ...(m.deadLetterSourceArn ? { DeadLetterQueueSourceArn: m.deadLetterSourceArn } : {}),
      };
      const all = wantedSystem.includes('All');
      const attributes = Object.fromEntries(Object.entries(system).filter(([k]) => all || wantedSystem.includes(k)));
      const allAttributes = wantedAttributes.includes('All') || wantedAttributes.includes('.*');
      const messageAttributes = Object.fromEntries(
        Object.entries(m.attributes).filter(([k]) => allAttributes || wantedAttributes.some((w) => w === k || (w.endsWith('.*') && k.startsWith(w.slice(0, -2))))),
      );
      return {
        MessageId: m.messageId,
        ReceiptHandle: handle,
        MD5OfBody: m.md5OfBody,
        Body: m.body,
        ...(Object.keys(attributes).length ? { Attributes: attributes } : {}),
        ...(Object.keys(messageAttributes).length
          ? { MessageAttributes: messageAttributes, MD5OfMessageAttributes: md5OfMessageAttributes(messageAttributes) }
          : {}),
      };
    });
  };

  const findByHandle = (queue: Queue, handle: unknown) => {
    const message = queue.messages.find((m) => typeof handle === 'string' && m.receiptHandles.has(handle));
    return message;
  };

  const changeVisibility = (queue: Queue, handle: unknown, timeoutSeconds: unknown) => {
    const message = findByHandle(queue, handle);
    if (!message || message.currentReceiptHandle !== handle) {
      throw new SqsError('ReceiptHandleIsInvalid', `The receipt handle "${String(handle)}" is not valid.`);
    }
    const value = Number(timeoutSeconds);
    if (!Number.isInteger(value) || value < 0 || value > 43200) throw new SqsError('InvalidParameterValue', 'VisibilityTimeout must be 0 to 43200.');
    message.visibleAt = Date.now() + value * 1000;
  };

  const batch = <T extends { Id: string }>(entries: T[] | undefined, each: (entry: T) => Record<string, unknown> | void) => {
    if (!entries || entries.length === 0) throw new SqsError('EmptyBatchRequest', 'There should be at least one entry in the request.');
    if (entries.length > 10) throw new SqsError('TooManyEntriesInBatchRequest', 'Maximum number of entries per request are 10.');
    const Successful: Record<string, unknown>[] = [];
    const Failed: Record<string, unknown>[] = [];
    for (const entry of entries) {
      try {
        Successful.push({ Id: entry.Id, ...(each(entry) ?? {}) });
      } catch (error) {
        const e = error as SqsError;
        Failed.push({ Id: entry.Id, SenderFault: true, Code: e.code ?? 'InternalError', Message: e.message });
      }
    }
    return { Successful, Failed };
  };

  const operations: Record<string, (input: Record<string, any>) => Promise<unknown> | unknown> = {
    CreateQueue: (input) => {
      const name = String(input.QueueName ?? '');
      if (!/^[\w-]{1,80}$/.test(name)) throw new SqsError('InvalidParameterValue', 'Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length');
      if (name.endsWith('.fifo') || input.Attributes?.FifoQueue === 'true') throw new SqsError('InvalidParameterValue', 'The local SQS emulator supports standard queues only.');
      const existing = queues.get(name);
      const attributes = { ...DEFAULT_ATTRIBUTES, ...(input.Attributes ?? {}) };
      if (existing) {
        const differs = Object.entries(input.Attributes ?? {}).some(([k, v]) => existing.attributes[k] !== v);
        if (differs) throw new SqsError('QueueNameExists', `A queue already exists with the same name and a different value for attribute(s)`, 'QueueAlreadyExists');
        return { QueueUrl: existing.url };
      }
      const queue: Queue = { name, arn: `arn:aws:sqs:${region}:${accountId}:${name}`, url: `${baseUrl}/${accountId}/${name}`, createdAt: Date.now(), attributes, messages: [] };
      queues.set(name, queue);
      return { QueueUrl: queue.url };
    },
    GetQueueUrl: (input) => {
      const queue = queues.get(String(input.QueueName));
      if (!queue) throw new SqsError('QueueDoesNotExist', 'The specified queue does not exist.', 'AWS.SimpleQueueService.NonExistentQueue');
      return { QueueUrl: queue.url };
    },
    ListQueues: (input) => ({ QueueUrls: [...queues.values()].filter((q) => !input.QueueNamePrefix || q.name.startsWith(input.QueueNamePrefix)).map((q) => q.url) }),
    GetQueueAttributes: (input) => {
      const queue = queueByUrl(input.QueueUrl);
      const now = Date.now();
      housekeep(queue, now);
      const all: Record<string, string> = {
        ...queue.attributes,
        QueueArn: queue.arn,
        CreatedTimestamp: String(Math.floor(queue.createdAt / 1000)),
        LastModifiedTimestamp: String(Math.floor(queue.createdAt / 1000)),
        ApproximateNumberOfMessages: String(queue.messages.filter((m) => m.visibleAt <= now).length),
        ApproximateNumberOfMessagesNotVisible: String(queue.messages.filter((m) => m.visibleAt > now && m.receiveCount > 0).length),
        ApproximateNumberOfMessagesDelayed: String(queue.messages.filter((m) => m.visibleAt > now && m.receiveCount === 0).length),
      };
      const wanted: string[] = input.AttributeNames ?? [];
      return { Attributes: Object.fromEntries(Object.entries(all).filter(([k]) => wanted.includes('All') || wanted.includes(k))) };
    },
    SetQueueAttributes: (input) => {
      Object.assign(queueByUrl(input.QueueUrl).attributes, input.Attributes ?? {});
      return {};
    },
    SendMessage: (input) => store(queueByUrl(input.QueueUrl), input),
    SendMessageBatch: (input) => {
      const queue = queueByUrl(input.QueueUrl);
      return batch(input.Entries, (entry: any) => store(queue, entry));
    },
    ReceiveMessage: async (input) => {
      const queue = queueByUrl(input.QueueUrl);
      const waitMs = Number(input.WaitTimeSeconds ?? queue.attributes.ReceiveMessageWaitTimeSeconds) * 1000;
      const deadline = Date.now() + Math.min(Math.max(waitMs, 0), 20_000);
      for (;;) {
        const messages = receiveNow(queue, input);
        if (messages.length > 0 || Date.now() >= deadline || closing) return { Messages: messages };
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    DeleteMessage: (input) => {
      const queue = queueByUrl(input.QueueUrl);
      const message = findByHandle(queue, input.ReceiptHandle);
      if (message) queue.messages.splice(queue.messages.indexOf(message), 1);
      else if (typeof input.ReceiptHandle !== 'string' || input.ReceiptHandle === '') {
        throw new SqsError('ReceiptHandleIsInvalid', 'The input receipt handle is invalid.');
      }
      return {};
    },
    DeleteMessageBatch: (input) => {
      const queue = queueByUrl(input.QueueUrl);
      return batch(input.Entries, (entry: any) => {
        const message = findByHandle(queue, entry.ReceiptHandle);
        if (message) queue.messages.splice(queue.messages.indexOf(message), 1);
      });
    },
    ChangeMessageVisibility: (input) => {
      changeVisibility(queueByUrl(input.QueueUrl), input.ReceiptHandle, input.VisibilityTimeout);
      return {};
    },
    ChangeMessageVisibilityBatch: (input) => {
      const queue = queueByUrl(input.QueueUrl);
      return batch(input.Entries, (entry: any) => changeVisibility(queue, entry.ReceiptHandle, entry.VisibilityTimeout));
    },
    PurgeQueue: (input) => {
      queueByUrl(input.QueueUrl).messages = [];
      return {};
    },
    DeleteQueue: (input) => {
      queues.delete(queueByUrl(input.QueueUrl).name);
      return {};
    },
    StartMessageMoveTask: (input) => {
      const source = queueByArn(input.SourceArn);
      const isDeadLetterQueue = [...queues.values()].some((q) => redrivePolicy(q)?.deadLetterTargetArn === source.arn);
      if (!isDeadLetterQueue) throw new SqsError('InvalidParameterValue', 'Source queue must be configured as a Dead Letter Queue.');
      const destination = input.DestinationArn ? queueByArn(input.DestinationArn) : undefined;
      const now = Date.now();
      const movable = source.messages.filter((m) => m.visibleAt <= now);
      for (const message of movable) {
        const target = destination ?? (message.deadLetterSourceArn ? queueByArn(message.deadLetterSourceArn) : undefined);
        if (!target) continue;
        source.messages.splice(source.messages.indexOf(message), 1);
        target.messages.push({ ...message, receiveCount: 0, firstReceivedAt: undefined, visibleAt: now, deadLetterSourceArn: undefined, receiptHandles: new Set(), currentReceiptHandle: undefined });
      }
      const task: MoveTask = {
        TaskHandle: Buffer.from(JSON.stringify({ taskId: randomUUID(), sourceArn: source.arn })).toString('base64'),
        SourceArn: source.arn,
        ...(destination ? { DestinationArn: destination.arn } : {}),
        Status: 'COMPLETED',
        ApproximateNumberOfMessagesMoved: movable.length,
        ApproximateNumberOfMessagesToMove: movable.length,
        StartedTimestamp: now,
      };
      moveTasks.push(task);
      return { TaskHandle: task.TaskHandle };
    },
    ListMessageMoveTasks: (input) => ({ Results: moveTasks.filter((t) => t.SourceArn === input.SourceArn).reverse().slice(0, Number(input.MaxResults ?? 1)) }),
  };

  const reply = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'Content-Type': 'application/x-amz-json-1.0', 'x-amzn-RequestId': randomUUID(), ...headers });
    res.end(JSON.stringify(body));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const target = String(req.headers['x-amz-target'] ?? '');
    const operation = operations[target.replace(/^AmazonSQS\./, '')];
    if (req.method !== 'POST' || !target.startsWith('AmazonSQS.') || !operation) {
      return reply(res, 400, { __type: 'com.amazonaws.sqs#InvalidAction', message: `The action ${target || '(none)'} is not valid for this endpoint.` }, { 'x-amzn-query-error': 'InvalidAction;Sender' });
    }
    let input: Record<string, any>;
    try {
      input = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
    } catch {
      return reply(res, 400, { __type: 'com.amazonaws.sqs#InvalidParameterValue', message: 'The request body is not JSON.' });
    }
    try {
      reply(res, 200, await operation(input));
    } catch (error) {
      if (!(error instanceof SqsError)) throw error;
      reply(res, 400, { __type: `com.amazonaws.sqs#${error.code}`, message: error.message }, { 'x-amzn-query-error': `${error.queryCode};Sender` });
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
  baseUrl = `http://${options.host ?? '127.0.0.1'}:${port}`;
  return {
    url: baseUrl,
    port,
    queues,
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
