import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import Stripe from 'stripe';
import { headerValues, problemResult, rawBody, respond, result } from '../shared/http';
import { logger, metrics } from '../shared/observability';
import { ProblemError } from '../shared/problem';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { EVENTS_QUEUE_MAX_MESSAGE_BYTES } from '../../lib/limits';

export interface WebhookHandlerDeps {
  sqs: SQSClient;
  queueUrl: string;
  /** The queue's MaximumMessageSize; a larger event is enqueued as a pointer. @default EVENTS_QUEUE_MAX_MESSAGE_BYTES */
  maxMessageBytes?: number;
  /** Every live signing secret; `refresh` bypasses the cache. */
  webhookSigningSecrets: (options?: { refresh?: boolean }) => Promise<string[]>;
  /** Least time between two cache-bypassing reads of the secret. @default 30000 */
  refreshIntervalMs?: number;
  now?: () => number;
}

/** The event, if any of the secrets signed these bytes within Stripe's 300-second tolerance. */
function verified(body: Buffer, signatureHeader: string, secrets: string[]): Stripe.Event | undefined {
  for (const secret of secrets) {
    try {
      return Stripe.webhooks.constructEvent(body, signatureHeader, secret);
    } catch {
      // try the next live secret
    }
  }
  return undefined;
}

/**
 * What the queue's tooling (dlq:list, the journal) shows without parsing the body. Only fields
 * that are there: SQS refuses an empty attribute, and a signed body that is not a proper event
 * must still be enqueued (the processor dead-letters it) rather than refused for ever.
 */
function messageAttributesOf(event: Stripe.Event) {
  const attributes: Record<string, { DataType: string; StringValue: string }> = {};
  if (typeof event.id === 'string' && event.id) attributes.stripeEventId = { DataType: 'String', StringValue: event.id };
  if (typeof event.type === 'string' && event.type) attributes.stripeEventType = { DataType: 'String', StringValue: event.type };
  if (Number.isFinite(event.created)) attributes.stripeEventCreated = { DataType: 'Number', StringValue: String(event.created) };
  return attributes;
}

/** Room for the message attributes, which count toward SQS's size limit. */
const ATTRIBUTE_ALLOWANCE_BYTES = 1024;

/**
 * POST /v1/webhooks/stripe: verify the signature on the raw bytes, enqueue, acknowledge.
 * Nothing else happens here (no database call): the answer is 200 only once SQS has the event,
 * and a 5xx otherwise, so Stripe keeps retrying until we hold it.
 */
export function createWebhookHandler(deps: WebhookHandlerDeps) {
  const now = deps.now ?? Date.now;
  const refreshIntervalMs = deps.refreshIntervalMs ?? 30_000;
  let lastRefreshAt = -Infinity;
  /**
   * A signature that matches no cached secret may be signed with a secret rolled since we
   * cached it: read the secret again once before answering 400. At most once per interval, so
   * a flood of forged requests cannot turn into a flood of Secrets Manager calls.
   */
  const verifyWithRefresh = async (body: Buffer, signatureHeader: string) => {
    const cached = verified(body, signatureHeader, await deps.webhookSigningSecrets());
    if (cached || now() - lastRefreshAt < refreshIntervalMs) return cached;
    lastRefreshAt = now();
    return verified(body, signatureHeader, await deps.webhookSigningSecrets({ refresh: true }));
  };
  const reject = (reason: string) => {
    metrics.addMetric('WebhookSignatureRejected', MetricUnit.Count, 1);
    logger.warn('Rejected Stripe webhook', { reason });
    return problemResult('invalidWebhookSignature', reason);
  };
  return (event: APIGatewayProxyEvent) =>
    respond(event, async () => {
      const signatures = headerValues(event, 'stripe-signature');
      if (signatures.length !== 1) return reject('Send exactly one Stripe-Signature header');
      // Signatures are over the exact bytes Stripe sent.
      const body = rawBody(event);
      const stripeEvent = await verifyWithRefresh(body, signatures[0]);
      if (!stripeEvent) return reject('The signature does not match the body, or is older than 300 seconds');
      // An event larger than the queue takes would be refused on every retry and lost when Stripe
      // gives up: enqueue a pointer instead, and the processor fetches the event by id.
      const limit = (deps.maxMessageBytes ?? EVENTS_QUEUE_MAX_MESSAGE_BYTES) - ATTRIBUTE_ALLOWANCE_BYTES;
      const messageBody =
        body.length <= limit
          ? body.toString('utf8')
          : JSON.stringify({ object: 'event_pointer', id: stripeEvent.id, type: stripeEvent.type, created: stripeEvent.created });
      try {
        await deps.sqs.send(
          new SendMessageCommand({
            QueueUrl: deps.queueUrl,
            MessageBody: messageBody,
            MessageAttributes: messageAttributesOf(stripeEvent),
          }),
        );
      } catch (error) {
        logger.error('Could not enqueue Stripe event', { stripeEventId: stripeEvent.id, error });
        throw new ProblemError('queueUnavailable', 'The event was not stored; Stripe will retry it', {}, 2);
      }
      logger.info('Stripe event enqueued', { stripeEventId: stripeEvent.id, stripeEventType: stripeEvent.type });
      metrics.addMetric('WebhookReceived', MetricUnit.Count, 1);
      return result(200, { received: true });
    });
}
