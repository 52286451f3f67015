import { SqsError } from './errors';

/**
 * Queue attributes as SetQueueAttributes documents them (SQS API Reference, SetQueueAttributes):
 * each settable name with its range, the JSON policies, and the read-only names a
 * GetQueueAttributes may ask for. Standard queues only: the FIFO names are refused.
 */
export const DEFAULT_QUEUE_ATTRIBUTES: Readonly<Record<string, string>> = {
  VisibilityTimeout: '30',
  MessageRetentionPeriod: '345600',
  DelaySeconds: '0',
  ReceiveMessageWaitTimeSeconds: '0',
  // 1 MiB (1,048,576 bytes) is both the default and the maximum (SetQueueAttributes, MaximumMessageSize).
  MaximumMessageSize: '1048576',
};

const INTEGER_RANGES: Record<string, [number, number]> = {
  DelaySeconds: [0, 900],
  MaximumMessageSize: [1024, 1_048_576],
  MessageRetentionPeriod: [60, 1_209_600],
  ReceiveMessageWaitTimeSeconds: [0, 20],
  VisibilityTimeout: [0, 43_200],
  KmsDataKeyReusePeriodSeconds: [60, 86_400],
};
const FREE_FORM = new Set(['Policy', 'KmsMasterKeyId', 'SqsManagedSseEnabled', 'RedrivePolicy', 'RedriveAllowPolicy']);
const FIFO_ONLY = new Set(['FifoQueue', 'ContentBasedDeduplication', 'DeduplicationScope', 'FifoThroughputLimit']);
export const READ_ONLY_ATTRIBUTES = new Set([
  'QueueArn',
  'ApproximateNumberOfMessages',
  'ApproximateNumberOfMessagesNotVisible',
  'ApproximateNumberOfMessagesDelayed',
  'CreatedTimestamp',
  'LastModifiedTimestamp',
]);

export interface RedrivePolicy {
  deadLetterTargetArn: string;
  maxReceiveCount: number;
}

const invalidValue = (name: string, reason: string) => new SqsError('InvalidAttributeValue', `Invalid value for the parameter ${name}. Reason: ${reason}`);

function parseJsonObject(name: string, value: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(value);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw invalidValue(name, 'The value is not a JSON object.');
}

export function parseRedrivePolicy(value: string): RedrivePolicy {
  const policy = parseJsonObject('RedrivePolicy', value);
  const maxReceiveCount = Number(policy.maxReceiveCount);
  if (typeof policy.deadLetterTargetArn !== 'string' || !policy.deadLetterTargetArn.startsWith('arn:')) throw invalidValue('RedrivePolicy', 'deadLetterTargetArn must be a queue ARN.');
  if (!Number.isInteger(maxReceiveCount) || maxReceiveCount < 1 || maxReceiveCount > 1000) throw invalidValue('RedrivePolicy', 'maxReceiveCount must be an integer from 1 to 1000.');
  return { deadLetterTargetArn: policy.deadLetterTargetArn, maxReceiveCount };
}

export interface RedriveAllowPolicy {
  redrivePermission: 'allowAll' | 'denyAll' | 'byQueue';
  sourceQueueArns?: string[];
}

export function parseRedriveAllowPolicy(value: string): RedriveAllowPolicy {
  const policy = parseJsonObject('RedriveAllowPolicy', value);
  const permission = policy.redrivePermission;
  if (permission !== 'allowAll' && permission !== 'denyAll' && permission !== 'byQueue') throw invalidValue('RedriveAllowPolicy', 'redrivePermission must be allowAll, denyAll or byQueue.');
  const arns = policy.sourceQueueArns;
  if (permission === 'byQueue') {
    if (!Array.isArray(arns) || arns.length < 1 || arns.length > 10 || !arns.every((a) => typeof a === 'string')) throw invalidValue('RedriveAllowPolicy', 'byQueue needs 1 to 10 sourceQueueArns.');
    return { redrivePermission: permission, sourceQueueArns: arns as string[] };
  }
  if (arns !== undefined) throw invalidValue('RedriveAllowPolicy', 'sourceQueueArns is allowed only with byQueue.');
  return { redrivePermission: permission };
}

/**
 * Validates the attributes of a CreateQueue or SetQueueAttributes call, name by name.
 * Queue references inside RedrivePolicy are checked by the caller, which knows the queues.
 */
export function validateQueueAttributes(attributes: Record<string, unknown>): Record<string, string> {
  const valid: Record<string, string> = {};
  for (const [name, raw] of Object.entries(attributes)) {
    if (FIFO_ONLY.has(name)) throw new SqsError('InvalidAttributeName', `The local SQS emulator supports standard queues only; ${name} applies to FIFO queues.`);
    if (!(name in INTEGER_RANGES) && !FREE_FORM.has(name)) throw new SqsError('InvalidAttributeName', `Unknown Attribute ${name}.`);
    if (typeof raw !== 'string') throw invalidValue(name, 'Attribute values are strings.');
    const range = INTEGER_RANGES[name];
    if (range && (!/^\d+$/.test(raw) || Number(raw) < range[0] || Number(raw) > range[1])) throw invalidValue(name, `Must be an integer from ${range[0]} to ${range[1]}.`);
    // An empty RedrivePolicy or RedriveAllowPolicy removes it (SetQueueAttributes).
    if (name === 'RedrivePolicy' && raw !== '') parseRedrivePolicy(raw);
    if (name === 'RedriveAllowPolicy' && raw !== '') parseRedriveAllowPolicy(raw);
    if (name === 'Policy' && raw !== '') parseJsonObject(name, raw);
    if (name === 'SqsManagedSseEnabled' && raw !== 'true' && raw !== 'false') throw invalidValue(name, 'Must be true or false.');
    valid[name] = raw;
  }
  return valid;
}

/** Names a GetQueueAttributes may ask for: every settable and read-only name, and All. */
export function validateAttributeNames(names: unknown): string[] {
  const list = Array.isArray(names) ? names : [];
  for (const name of list) {
    const known = name === 'All' || name in INTEGER_RANGES || FREE_FORM.has(name) || READ_ONLY_ATTRIBUTES.has(name);
    if (!known) throw new SqsError('InvalidAttributeName', `Unknown Attribute ${String(name)}.`);
  }
  return list as string[];
}
