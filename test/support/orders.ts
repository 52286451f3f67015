import type { SQSEvent } from 'aws-lambda';
import { randomUUID } from 'node:crypto';
import type { Order } from '../../lambdas/domain/order';

/** A pending order as checkout writes it, for tests that start later in the lifecycle. */
export function pendingOrder(overrides: Partial<Order> = {}): Order {
  const now = new Date().toISOString();
  return {
    orderId: `ord_${randomUUID().replace(/-/g, '')}`,
    tenantId: 'acme',
    userId: 'alice',
    version: 1,
    paymentStatus: 'pending',
    currency: 'eur',
    amountTotal: 1000,
    checkoutSessionId: `cs_test_${randomUUID().replace(/-/g, '')}`,
    checkoutUrl: null,
    stripeIdempotencyKey: 'checkout-v1-test',
    requestFingerprint: 'test',
    refunds: {},
    reservations: {},
    disputes: {},
    anomalies: [],
    createdAt: now,
    updatedAt: now,
    ...overrides,
  };
}

export function sqsEvent(bodies: string[]): SQSEvent {
  return {
    Records: bodies.map((body) => ({
      messageId: randomUUID(),
      receiptHandle: randomUUID(),
      body,
      attributes: { ApproximateReceiveCount: '1', SentTimestamp: String(Date.now()), SenderId: 'local', ApproximateFirstReceiveTimestamp: String(Date.now()) },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:stripe-events',
      awsRegion: 'us-east-1',
    })),
  };
}
