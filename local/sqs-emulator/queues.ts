import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { integerParameter, invalidParameter, SqsError } from './errors';
import { md5OfBody, md5OfMessageAttributes, validateSendEntry, type MessageAttributes, type SendEntry } from './messages';
import {
  DEFAULT_QUEUE_ATTRIBUTES,
  parseRedriveAllowPolicy,
  parseRedrivePolicy,
  READ_ONLY_ATTRIBUTES,
  validateAttributeNames,
  validateQueueAttributes,
  type RedrivePolicy,
} from './queue-attributes';

export interface StoredMessage {
  messageId: string;
  body: string;
  md5OfBody: string;
  attributes: MessageAttributes;
  md5OfAttributes: string | undefined;
  traceHeader: string | undefined;
  sentAt: number;
  visibleAt: number;
  receiveCount: number;
  firstReceivedAt: number | undefined;
  lastReceivedAt: number | undefined;
  /** Where the message was before it was dead-lettered: the default redrive destination. */
  deadLetterSourceArn: string | undefined;
}

export interface Queue {
  name: string;
  arn: string;
  url: string;
  createdAt: number;
  lastModifiedAt: number;
  attributes: Record<string, string>;
  messages: StoredMessage[];
  lastPurgedAt: number | undefined;
}

/** How the emulator resolves what SQS leaves open; see SqsEmulatorOptions. */
export interface QueueBehaviour {
  clock: () => number;
  random: () => number;
  shortPolls: 'complete' | 'sampled';
  staleReceiptHandles: 'ignored' | 'deletes';
}

export interface ReceiveParameters {
  maxNumberOfMessages: number;
  visibilityTimeoutSeconds: number | undefined;
  systemAttributeNames: string[];
  messageAttributeNames: string[];
  shortPoll: boolean;
}

const MAX_VISIBILITY_MS = 43_200_000;
// "You can't purge a queue more than once every 60 seconds"; "wait 60 seconds after deleting a queue before creating one with the same name" (PurgeQueue, CreateQueue).
const PURGE_INTERVAL_MS = 60_000;
const RECREATE_AFTER_DELETE_MS = 60_000;

type HandleLookup = { kind: 'invalid' } | { kind: 'gone' } | { kind: 'current' | 'stale'; message: StoredMessage };

/** Every queue of one emulator, and what SQS does to their messages. */
export class QueueStore {
  private readonly queues = new Map<string, Queue>();
  private readonly deletedAt = new Map<string, number>();
  private readonly receiptHandleKey = randomBytes(32);
  baseUrl = '';

  constructor(
    private readonly region: string,
    private readonly accountId: string,
    private readonly behaviour: QueueBehaviour,
  ) {}

  private now = () => this.behaviour.clock();

  /** The live queues by name (what `npm start --persist` snapshots and refills). */
  get all(): ReadonlyMap<string, Queue> {
    return this.queues;
  }

  create(nameInput: unknown, attributesInput: Record<string, unknown> = {}): Queue {
    const name = String(nameInput ?? '');
    if (!/^[\w-]{1,80}$/.test(name)) throw new SqsError('InvalidParameterValue', 'Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length');
    const requested = validateQueueAttributes(attributesInput);
    const existing = this.queues.get(name);
    if (existing) {
      const differs = Object.entries(requested).some(([k, v]) => existing.attributes[k] !== v);
      if (differs) throw new SqsError('QueueNameExists', 'A queue already exists with the same name and a different value for attribute(s)');
      return existing;
    }
    const deletedAt = this.deletedAt.get(name);
    if (deletedAt !== undefined && this.now() - deletedAt < RECREATE_AFTER_DELETE_MS) {
      throw new SqsError('QueueDeletedRecently', 'You must wait 60 seconds after deleting a queue before you can create another queue with the same name.');
    }
    const arn = `arn:aws:sqs:${this.region}:${this.accountId}:${name}`;
    this.checkQueueReferences(arn, requested);
    const now = this.now();
    const queue: Queue = { name, arn, url: `${this.baseUrl}/${this.accountId}/${name}`, createdAt: now, lastModifiedAt: now, attributes: { ...DEFAULT_QUEUE_ATTRIBUTES, ...requested }, messages: [], lastPurgedAt: undefined };
    this.queues.set(name, queue);
    return queue;
  }

  byUrl(url: unknown): Queue {
    const name = typeof url === 'string' ? url.split('/').pop() : undefined;
    const queue = name ? this.queues.get(name) : undefined;
    if (!queue || queue.url !== url) throw new SqsError('QueueDoesNotExist', 'The specified queue does not exist.');
    return queue;
  }

  byName(name: unknown): Queue {
    const queue = this.queues.get(String(name));
    if (!queue) throw new SqsError('QueueDoesNotExist', 'The specified queue does not exist.');
    return queue;
  }

  /** The move-task operations name queues by ARN and answer ResourceNotFoundException for a missing one. */
  byArn(arn: unknown): Queue {
    const queue = this.findByArn(arn);
    if (!queue) throw new SqsError('ResourceNotFoundException', `The resource that you specified for the SourceArn or DestinationArn parameter doesn't exist: ${String(arn)}`);
    return queue;
  }

  findByArn(arn: unknown): Queue | undefined {
    return [...this.queues.values()].find((q) => q.arn === arn);
  }

  list(prefix: unknown): Queue[] {
    return [...this.queues.values()].filter((q) => typeof prefix !== 'string' || q.name.startsWith(prefix));
  }

  redrivePolicy(queue: Queue): RedrivePolicy | undefined {
    return queue.attributes.RedrivePolicy ? parseRedrivePolicy(queue.attributes.RedrivePolicy) : undefined;
  }

  isDeadLetterQueue(queue: Queue): boolean {
    return [...this.queues.values()].some((q) => this.redrivePolicy(q)?.deadLetterTargetArn === queue.arn);
  }

  /** A RedrivePolicy must name an existing queue that lets this one use it (SetQueueAttributes, RedrivePolicy and RedriveAllowPolicy). */
  private checkQueueReferences(sourceArn: string, attributes: Record<string, string>) {
    if (!attributes.RedrivePolicy) return;
    const { deadLetterTargetArn } = parseRedrivePolicy(attributes.RedrivePolicy);
    const target = this.findByArn(deadLetterTargetArn);
    if (!target || deadLetterTargetArn === sourceArn) throw new SqsError('InvalidAttributeValue', `Invalid value for the parameter RedrivePolicy. Reason: Dead letter target does not exist.`);
    const allow = target.attributes.RedriveAllowPolicy ? parseRedriveAllowPolicy(target.attributes.RedriveAllowPolicy) : undefined;
    const allowed = !allow || allow.redrivePermission === 'allowAll' || (allow.redrivePermission === 'byQueue' && allow.sourceQueueArns!.includes(sourceArn));
    if (!allowed) throw new SqsError('InvalidAttributeValue', `Invalid value for the parameter RedrivePolicy. Reason: The RedriveAllowPolicy of ${deadLetterTargetArn} does not allow this queue.`);
  }

  setAttributes(queue: Queue, input: Record<string, unknown> = {}) {
    const requested = validateQueueAttributes(input);
    this.checkQueueReferences(queue.arn, requested);
    for (const [name, value] of Object.entries(requested)) {
      if (value === '' && (name === 'RedrivePolicy' || name === 'RedriveAllowPolicy' || name === 'Policy')) delete queue.attributes[name];
      else queue.attributes[name] = value;
    }
    queue.lastModifiedAt = this.now();
  }

  getAttributes(queue: Queue, names: unknown): Record<string, string> {
    const wanted = validateAttributeNames(names);
    const now = this.now();
    this.housekeep(queue, now);
    const all: Record<string, string> = {
      ...queue.attributes,
      QueueArn: queue.arn,
      CreatedTimestamp: String(Math.floor(queue.createdAt / 1000)),
      LastModifiedTimestamp: String(Math.floor(queue.lastModifiedAt / 1000)),
      ApproximateNumberOfMessages: String(queue.messages.filter((m) => m.visibleAt <= now).length),
      ApproximateNumberOfMessagesNotVisible: String(queue.messages.filter((m) => m.visibleAt > now && m.receiveCount > 0).length),
      ApproximateNumberOfMessagesDelayed: String(queue.messages.filter((m) => m.visibleAt > now && m.receiveCount === 0).length),
    };
    return Object.fromEntries(Object.entries(all).filter(([k]) => wanted.includes('All') || (wanted.includes(k) && (READ_ONLY_ATTRIBUTES.has(k) || k in queue.attributes))));
  }

  delete(queue: Queue) {
    this.queues.delete(queue.name);
    this.deletedAt.set(queue.name, this.now());
  }

  purge(queue: Queue) {
    const now = this.now();
    if (queue.lastPurgedAt !== undefined && now - queue.lastPurgedAt < PURGE_INTERVAL_MS) {
      throw new SqsError('PurgeQueueInProgress', `Only one PurgeQueue operation on ${queue.name} is allowed every 60 seconds.`);
    }
    queue.lastPurgedAt = now;
    queue.messages = [];
  }

  maximumMessageBytes(queue: Queue): number {
    return Number(queue.attributes.MaximumMessageSize);
  }

  send(queue: Queue, entry: SendEntry) {
    const valid = validateSendEntry(entry, this.maximumMessageBytes(queue));
    const now = this.now();
    const message = this.newMessage(valid.body, valid.attributes, entry.MessageSystemAttributes?.AWSTraceHeader?.StringValue, now);
    message.visibleAt = now + (valid.delaySeconds ?? Number(queue.attributes.DelaySeconds)) * 1000;
    queue.messages.push(message);
    return {
      MessageId: message.messageId,
      MD5OfMessageBody: message.md5OfBody,
      ...(message.md5OfAttributes ? { MD5OfMessageAttributes: message.md5OfAttributes } : {}),
    };
  }

  private newMessage(body: string, attributes: MessageAttributes, traceHeader: string | undefined, now: number): StoredMessage {
    return {
      messageId: randomUUID(),
      body,
      md5OfBody: md5OfBody(body),
      attributes,
      md5OfAttributes: md5OfMessageAttributes(attributes),
      traceHeader,
      sentAt: now,
      visibleAt: now,
      receiveCount: 0,
      firstReceivedAt: undefined,
      lastReceivedAt: undefined,
      deadLetterSourceArn: undefined,
    };
  }

  /**
   * A redriven message is a new message: new MessageId, new enqueue time, retention restarted
   * (SQS Developer Guide, "Configure a dead-letter queue redrive": "The redrive task resets the
   * retention period. All redriven messages are considered new messages").
   */
  enqueueRedriven(target: Queue, message: StoredMessage) {
    target.messages.push(this.newMessage(message.body, message.attributes, message.traceHeader, this.now()));
  }

  /**
   * Drops expired messages and dead-letters those already received maxReceiveCount times.
   * A standard queue keeps the enqueue time when dead-lettering: retention still counts from the
   * first send (SQS Developer Guide, "Setting-up dead-letter queue retention").
   */
  housekeep(queue: Queue, now = this.now()) {
    const retentionMs = Number(queue.attributes.MessageRetentionPeriod) * 1000;
    queue.messages = queue.messages.filter((m) => now - m.sentAt < retentionMs);
    const policy = this.redrivePolicy(queue);
    const dlq = policy ? this.findByArn(policy.deadLetterTargetArn) : undefined;
    if (!policy || !dlq) return;
    for (const message of [...queue.messages]) {
      if (message.visibleAt <= now && message.receiveCount >= policy.maxReceiveCount) {
        queue.messages.splice(queue.messages.indexOf(message), 1);
        dlq.messages.push({ ...message, visibleAt: now, deadLetterSourceArn: queue.arn });
      }
    }
  }

  receiveNow(queue: Queue, parameters: ReceiveParameters) {
    const now = this.now();
    this.housekeep(queue, now);
    let candidates = queue.messages.filter((m) => m.visibleAt <= now);
    // A short poll queries only a weighted random subset of SQS's servers, so it can return fewer
    // messages than are available, or none; a long poll queries all of them (SQS Developer Guide,
    // "Amazon SQS short and long polling"). Sampled: each message is on a queried server with probability 1/2.
    if (parameters.shortPoll && this.behaviour.shortPolls === 'sampled') candidates = candidates.filter(() => this.behaviour.random() < 0.5);
    const visibilityMs = (parameters.visibilityTimeoutSeconds ?? Number(queue.attributes.VisibilityTimeout)) * 1000;
    return candidates.slice(0, parameters.maxNumberOfMessages).map((m) => {
      m.receiveCount += 1;
      m.firstReceivedAt ??= now;
      m.lastReceivedAt = now;
      m.visibleAt = now + visibilityMs;
      return this.asReceived(queue, m, parameters);
    });
  }

  private asReceived(queue: Queue, m: StoredMessage, parameters: ReceiveParameters) {
    const system: Record<string, string> = {
      ApproximateReceiveCount: String(m.receiveCount),
      SentTimestamp: String(m.sentAt),
      ApproximateFirstReceiveTimestamp: String(m.firstReceivedAt),
      SenderId: this.accountId,
      ...(m.deadLetterSourceArn ? { DeadLetterQueueSourceArn: m.deadLetterSourceArn } : {}),
      ...(m.traceHeader ? { AWSTraceHeader: m.traceHeader } : {}),
    };
    const wantedSystem = parameters.systemAttributeNames;
    const attributes = Object.fromEntries(Object.entries(system).filter(([k]) => wantedSystem.includes('All') || wantedSystem.includes(k)));
    const wanted = parameters.messageAttributeNames;
    const all = wanted.includes('All') || wanted.includes('.*');
    const messageAttributes = Object.fromEntries(Object.entries(m.attributes).filter(([k]) => all || wanted.some((w) => w === k || (w.endsWith('.*') && k.startsWith(w.slice(0, -1))))));
    return {
      MessageId: m.messageId,
      ReceiptHandle: this.receiptHandle(queue, m),
      MD5OfBody: m.md5OfBody,
      Body: m.body,
      ...(Object.keys(attributes).length ? { Attributes: attributes } : {}),
      ...(Object.keys(messageAttributes).length ? { MessageAttributes: messageAttributes, MD5OfMessageAttributes: md5OfMessageAttributes(messageAttributes) } : {}),
    };
  }

  /** Opaque to clients, verifiable here: which queue, which message, which receive. */
  private receiptHandle(queue: Queue, message: StoredMessage): string {
    const payload = Buffer.from(JSON.stringify({ q: queue.name, m: message.messageId, r: message.receiveCount })).toString('base64url');
    return `${payload}.${createHmac('sha256', this.receiptHandleKey).update(payload).digest('base64url')}`;
  }

  private lookUpHandle(queue: Queue, handle: unknown): HandleLookup {
    if (typeof handle !== 'string') return { kind: 'invalid' };
    const [payload, signature, extra] = handle.split('.');
    if (!payload || extra !== undefined || signature !== createHmac('sha256', this.receiptHandleKey).update(payload).digest('base64url')) return { kind: 'invalid' };
    const { q, m, r } = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { q: string; m: string; r: number };
    if (q !== queue.name) return { kind: 'invalid' };
    const message = queue.messages.find((candidate) => candidate.messageId === m);
    if (!message) return { kind: 'gone' };
    return { kind: message.receiveCount === r ? 'current' : 'stale', message };
  }

  /**
   * A handle the queue never issued is ReceiptHandleIsInvalid. A handle of a message already
   * gone succeeds. A superseded handle "will still succeed, but the message might not be
   * deleted" (DeleteMessage): `staleReceiptHandles` picks which.
   */
  deleteMessage(queue: Queue, handle: unknown) {
    const found = this.lookUpHandle(queue, handle);
    if (found.kind === 'invalid') throw new SqsError('ReceiptHandleIsInvalid', `The input receipt handle "${String(handle)}" is not a valid receipt handle.`);
    if (found.kind === 'gone') return;
    if (found.kind === 'stale' && this.behaviour.staleReceiptHandles === 'ignored') return;
    queue.messages.splice(queue.messages.indexOf(found.message), 1);
  }

  /**
   * Only a message in flight under this handle can change visibility (MessageNotInflight), and
   * never beyond 12 hours after the receive that issued the handle (ChangeMessageVisibility).
   */
  changeVisibility(queue: Queue, handle: unknown, timeoutInput: unknown) {
    const timeoutSeconds = integerParameter('VisibilityTimeout', timeoutInput, 0, 43_200);
    if (timeoutSeconds === undefined) throw new SqsError('MissingParameter', 'The request must contain the parameter VisibilityTimeout.');
    const found = this.lookUpHandle(queue, handle);
    if (found.kind === 'invalid') throw new SqsError('ReceiptHandleIsInvalid', `The input receipt handle "${String(handle)}" is not a valid receipt handle.`);
    if (found.kind !== 'current') throw invalidParameter('ReceiptHandle', handle, 'Message does not exist or is not available for visibility timeout change.');
    const now = this.now();
    const { message } = found;
    if (message.visibleAt <= now) throw new SqsError('MessageNotInflight', 'The message referred to is not in flight.');
    if (now + timeoutSeconds * 1000 > message.lastReceivedAt! + MAX_VISIBILITY_MS) {
      throw invalidParameter('VisibilityTimeout', timeoutSeconds, 'Total VisibilityTimeout for the message is beyond the limit [43200 seconds]');
    }
    message.visibleAt = now + timeoutSeconds * 1000;
  }
}
