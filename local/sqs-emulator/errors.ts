/**
 * An SQS error as the JSON protocol carries it: `__type` names the SDK's exception class, and
 * `x-amzn-query-error` the code older (query-protocol) clients knew, which the SDK exposes as
 * `error.Code` because the service is `awsQueryCompatible`.
 */
export class SqsError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }

  get queryCode(): string {
    return QUERY_CODES[this.code] ?? this.code;
  }
}

/** The query-protocol codes the SQS API Reference lists under each action's "Errors". */
const QUERY_CODES: Record<string, string> = {
  QueueDoesNotExist: 'AWS.SimpleQueueService.NonExistentQueue',
  QueueNameExists: 'QueueAlreadyExists',
  BatchEntryIdsNotDistinct: 'AWS.SimpleQueueService.BatchEntryIdsNotDistinct',
  BatchRequestTooLong: 'AWS.SimpleQueueService.BatchRequestTooLong',
  EmptyBatchRequest: 'AWS.SimpleQueueService.EmptyBatchRequest',
  InvalidBatchEntryId: 'AWS.SimpleQueueService.InvalidBatchEntryId',
  TooManyEntriesInBatchRequest: 'AWS.SimpleQueueService.TooManyEntriesInBatchRequest',
  MessageNotInflight: 'AWS.SimpleQueueService.MessageNotInflight',
  PurgeQueueInProgress: 'AWS.SimpleQueueService.PurgeQueueInProgress',
  QueueDeletedRecently: 'AWS.SimpleQueueService.QueueDeletedRecently',
  UnsupportedOperation: 'AWS.SimpleQueueService.UnsupportedOperation',
};

export const invalidParameter = (name: string, value: unknown, reason: string) =>
  new SqsError('InvalidParameterValue', `Value ${String(value)} for parameter ${name} is invalid. Reason: ${reason}`);

/** An optional integer parameter within [min, max]; SQS rejects out-of-range values, it never clamps them. */
export function integerParameter(name: string, value: unknown, min: number, max: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw invalidParameter(name, value, `Must be between ${min} and ${max}, if provided.`);
  return n;
}
