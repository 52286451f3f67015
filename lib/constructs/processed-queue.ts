import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { EVENTS_QUEUE_MAX_MESSAGE_BYTES } from '../limits';

export interface ProcessedQueueProps {
  /** Timeout of the Lambda that consumes the queue; the visibility timeout is six times it, as AWS advises. */
  readonly consumerTimeout: Duration;
  /** Receives before a message moves to the DLQ. @default 5 */
  readonly maxReceiveCount?: number;
  /** Customer-managed key for both queues. @default SQS-managed encryption (SSE-SQS) */
  readonly encryptionKey?: IKey;
  /** How long messages wait in the DLQ for a redrive. @default Duration.days(14), the SQS maximum */
  readonly deadLetterRetention?: Duration;
  /** Alarm when the oldest message is older than this. @default Duration.minutes(5) */
  readonly maxMessageAge?: Duration;
  /** What a stack delete does to both queues. @default RemovalPolicy.RETAIN: they may hold unprocessed payment events */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * Queue that feeds a Lambda, with a dead-letter queue, TLS-only policies, encryption, and alarms
 * on DLQ depth and message age. Nothing is ever dropped: what cannot be processed waits in the
 * DLQ for 14 days, and an alarm says so.
 */
export class ProcessedQueue extends Construct {
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;
  readonly deadLetterDepthAlarm: Alarm;
  readonly oldestMessageAgeAlarm: Alarm;

  constructor(scope: Construct, id: string, props: ProcessedQueueProps) {
    super(scope, id);
    const encryption = props.encryptionKey
      ? { encryption: QueueEncryption.KMS, encryptionMasterKey: props.encryptionKey }
      : { encryption: QueueEncryption.SQS_MANAGED };
    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      ...encryption,
      enforceSSL: true,
      // Same limit as the queue, so every message the queue accepted can be dead-lettered.
      maxMessageSizeBytes: EVENTS_QUEUE_MAX_MESSAGE_BYTES,
      retentionPeriod: props.deadLetterRetention ?? Duration.days(14),
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.queue = new Queue(this, 'Queue', {
      ...encryption,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(props.consumerTimeout.toSeconds() * 6),
      // Explicit, not the service default: the webhook receiver decides "event or pointer" on this figure.
      maxMessageSizeBytes: EVENTS_QUEUE_MAX_MESSAGE_BYTES,
      retentionPeriod: Duration.days(14),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount ?? 5 },
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });

    this.deadLetterDepthAlarm = new Alarm(this, 'DeadLetterDepthAlarm', {
      alarmDescription: 'Stripe events are in the DLQ: they were retried and never applied. See docs/RUNBOOK.md#dlq-depth.',
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.oldestMessageAgeAlarm = new Alarm(this, 'OldestMessageAgeAlarm', {
      alarmDescription: 'Stripe events wait too long for processing. See docs/RUNBOOK.md#queue-age.',
      metric: this.queue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: (props.maxMessageAge ?? Duration.minutes(5)).toSeconds(),
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
  }
}
