/** SQS's documented maximum (and now default) message size, 1 MiB; set on the queues explicitly. */
export const EVENTS_QUEUE_MAX_MESSAGE_BYTES = 1_048_576;
