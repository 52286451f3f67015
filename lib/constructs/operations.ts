import { Aws, Duration, Validations } from 'aws-cdk-lib';
import type { RestApi } from 'aws-cdk-lib/aws-apigateway';
import {
  Alarm,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  MathExpression,
  Metric,
  TextWidget,
  TreatMissingData,
  type IMetric,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE, serviceName } from './payments-function';
import type { ProcessedQueue } from './processed-queue';

export interface OperationsProps {
  readonly api: RestApi;
  readonly events: ProcessedQueue;
  readonly processor: IFunction;
  /** Subscribed to the alarm topic. @default none */
  readonly alarmEmail?: string;
  /** Encrypts the alarm topic; its key policy must let CloudWatch use it. @default unencrypted */
  readonly encryptionKey?: IKey;
  /** Alarm when no Stripe webhook was accepted for this many hours. @default no such alarm */
  readonly noWebhooksAlarmHours?: number;
}

const FIVE_MINUTES = Duration.minutes(5);

/**
 * What on-call looks at: one dashboard, and alarms on what needs a human (events stuck in the
 * DLQ or waiting too long, the processor failing or meeting events it must not apply, the API
 * failing, webhooks rejected or missing), all notifying one SNS topic. docs/RUNBOOK.md says what
 * to do for each.
 */
export class Operations extends Construct {
  readonly alarmTopic: Topic;
  readonly dashboard: Dashboard;
  readonly alarms: Alarm[];

  constructor(scope: Construct, id: string, props: OperationsProps) {
    super(scope, id);
    this.alarmTopic = new Topic(this, 'AlarmTopic', { enforceSSL: true, masterKey: props.encryptionKey });
    if (!props.encryptionKey) {
      Validations.of(this.alarmTopic).acknowledge({
        id: 'AwsSolutions-SNS2',
        reason: 'Alarm notifications carry no customer data, and CloudWatch cannot publish to a topic under the AWS-managed SNS key; context kmsEncryption=true uses a customer key.',
      });
    }
    // A topic policy replaces SNS's default one, and enforceSSL creates a policy: without this
    // statement CloudWatch may not publish, and no alarm reaches anyone. Only this account's alarms.
    this.alarmTopic.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.alarmTopic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
          ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:*` },
        },
      }),
    );
    if (props.alarmEmail) this.alarmTopic.addSubscription(new EmailSubscription(props.alarmEmail));

    // No default label: a labelled metric becomes a metric-math query in an alarm.
    const app = (handler: string, metricName: string, label?: string): Metric =>
      new Metric({ namespace: METRICS_NAMESPACE, metricName, dimensionsMap: { service: serviceName(handler) }, statistic: 'Sum', period: FIVE_MINUTES, label });
    const apiRequests = props.api.metricCount({ period: FIVE_MINUTES, statistic: 'Sum' });
    const api5xx = props.api.metricServerError({ period: FIVE_MINUTES, statistic: 'Sum' });
    const api5xxPercent = new MathExpression({
      expression: 'IF(requests >= 20, 100 * errors / requests, 0)',
      usingMetrics: { requests: apiRequests, errors: api5xx },
      period: FIVE_MINUTES,
      label: 'API 5xx %',
    });

    const processorErrors = new Alarm(this, 'ProcessorErrorsAlarm', {
      alarmDescription: 'The Stripe event processor Lambda failed as a whole (not single records). See docs/RUNBOOK.md#processor-errors.',
      metric: props.processor.metricErrors({ period: FIVE_MINUTES, statistic: 'Sum' }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    const apiErrors = new Alarm(this, 'Api5xxAlarm', {
      alarmDescription: 'More than 1% of API requests answered 5xx over 10 minutes (with at least 20 requests). See docs/RUNBOOK.md#api-5xx.',
      metric: api5xxPercent,
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 2,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    const anyInFiveMinutes = (id: string, metric: Metric, alarmDescription: string, threshold = 1) =>
      new Alarm(this, id, {
        alarmDescription,
        metric,
        threshold,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
    const signatureRejected = anyInFiveMinutes(
      'WebhookSignatureRejectedAlarm',
      app('webhooks', 'WebhookSignatureRejected'),
      'Stripe webhooks were rejected for their signature (3+ in 5 minutes): a signing secret rolled or mistyped, or forgeries. See docs/RUNBOOK.md#webhook-signature-rejected.',
      3,
    );
    const eventAnomaly = anyInFiveMinutes(
      'StripeEventAnomalyAlarm',
      app('events', 'StripeEventAnomaly'),
      'The processor met a Stripe event it must not apply (it does not belong to the order it names, or disagrees with it). See docs/RUNBOOK.md#stripe-event-anomaly.',
    );
    const eventFailed = anyInFiveMinutes(
      'StripeEventFailedAlarm',
      app('events', 'StripeEventFailed'),
      'The processor failed to apply a Stripe event; it is retried and lands in the DLQ if it keeps failing. See docs/RUNBOOK.md#stripe-event-failed.',
    );
        // Written by the processor and the checkout and refund steps; a failed write never changes a
    // payment, but the history and backfill's view have a gap until backfill fills it.
    const journalWriteFailures = new MathExpression({
      expression: 'SUM(METRICS())',
      usingMetrics: { events: app('events', 'JournalWriteFailed'), checkout: app('checkout', 'JournalWriteFailed'), refunds: app('refunds', 'JournalWriteFailed') },
      period: FIVE_MINUTES,
      label: 'journal writes failed',
    });
    const journalErrors = new Alarm(this, 'JournalWriteFailedAlarm', {
      alarmDescription: 'Journal writes failed (payments unaffected; history has gaps). See docs/RUNBOOK.md#journal-writes-failing.',
      metric: journalWriteFailures,
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.alarms = [props.events.deadLetterDepthAlarm, props.events.oldestMessageAgeAlarm, processorErrors, apiErrors, signatureRejected, eventAnomaly, eventFailed, journalErrors];
    if (props.noWebhooksAlarmHours) {
      this.alarms.push(
        new Alarm(this, 'NoWebhooksAlarm', {
          alarmDescription: `No Stripe webhook was accepted for ${props.noWebhooksAlarmHours} hours: the endpoint may be disabled at Stripe or the route broken. See docs/RUNBOOK.md#no-webhooks.`,
          metric: new Metric({ namespace: METRICS_NAMESPACE, metricName: 'WebhookReceived', dimensionsMap: { service: serviceName('webhooks') }, statistic: 'Sum', period: Duration.hours(1) }),
          threshold: 1,
          comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
          evaluationPeriods: props.noWebhooksAlarmHours,
          // No data point at all is exactly the silence this alarm is for.
          treatMissingData: TreatMissingData.BREACHING,
        }),
      );
    }
    const notify = new SnsAction(this.alarmTopic);
    for (const alarm of this.alarms) {
      alarm.addAlarmAction(notify);
      alarm.addOkAction(notify);
    }

    const graph = (title: string, left: IMetric[], width = 8) => new GraphWidget({ title, left, width, height: 6 });
    this.dashboard = new Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(3) });
    this.dashboard.addWidgets(
      new TextWidget({ markdown: '# Payments\nAlarms and what to do: `docs/RUNBOOK.md`. DLQ: `npm run dlq:list`, `npm run dlq:redrive`.', width: 24, height: 2 }),
    );
    this.dashboard.addWidgets(
      graph('API requests, 4xx, 5xx', [apiRequests, props.api.metricClientError({ period: FIVE_MINUTES, statistic: 'Sum' }), api5xx]),
      graph('API latency (p50, p99)', [props.api.metricLatency({ period: FIVE_MINUTES, statistic: 'p50' }), props.api.metricLatency({ period: FIVE_MINUTES, statistic: 'p99' })]),
      graph('API 5xx rate (%)', [api5xxPercent]),
    );
    this.dashboard.addWidgets(
      graph('Idempotency: replays, in-flight conflicts (409), key reuse (422)', [
        app('checkout', 'IdempotentReplay', 'checkout replays'),
        app('checkout', 'IdempotencyConflict', 'checkout 409'),
        app('checkout', 'IdempotencyMismatch', 'checkout 422'),
        app('refunds', 'IdempotentReplay', 'refund replays'),
        app('refunds', 'IdempotencyConflict', 'refund 409'),
        app('refunds', 'IdempotencyMismatch', 'refund 422'),
      ]),
      graph('Stripe webhooks received, rejected', [app('webhooks', 'WebhookReceived'), app('webhooks', 'WebhookSignatureRejected')]),
      graph('Processor: processed, duplicate, ignored, failed', [
        app('events', 'StripeEventProcessed'),
        app('events', 'StripeEventDuplicate'),
        app('events', 'StripeEventIgnored'),
        app('events', 'StripeEventFailed'),
        app('events', 'StripeEventAnomaly'),
        props.processor.metricErrors({ period: FIVE_MINUTES, statistic: 'Sum', label: 'Lambda errors' }),
        journalWriteFailures,
      ]),
    );
    this.dashboard.addWidgets(
      graph('Events queue: oldest message age (s)', [props.events.queue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(1), statistic: 'Maximum' })], 12),
      graph('DLQ depth', [props.events.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' })], 12),
    );
  }
}
