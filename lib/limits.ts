// SQS's documented maximum message size (body + attributes), 1 MiB: SQS Developer Guide, "Amazon SQS message quotas".
export const EVENTS_QUEUE_MAX_MESSAGE_BYTES = 1_048_576;
