import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { OrderNotFoundError, OrderNotReadyError } from '../domain/errors';
import { isReleasedRefund, refundStatusRank, type Order, type RefundRecord, type RefundStatus } from '../domain/order';
import type { OrderStore } from '../domain/ports';
import type { OrderEventStore } from '../domain/stripe-events';
import { ordersTable } from '../../lib/tables';

/** Whether a conditional transition changed the order, or found it already past that point. */
export type TransitionResult = 'applied' | 'stale';

const statusesBelow = (status: RefundStatus) =>
  (Object.keys(refundStatusRank) as RefundStatus[]).filter((s) => refundStatusRank[s] < refundStatusRank[status]);

/**
 * The orders table. Every state change is a single conditional write: the condition encodes
 * the state machine, so concurrent or reordered writers cannot move an order backwards or
 * spend the refundable balance twice.
 */
export class DynamoDbOrderStore implements OrderStore, OrderEventStore {
  private readonly documents: DynamoDBDocumentClient;

  constructor(
    dynamoDb: DynamoDBClient,
    private readonly tableName: string,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.documents = DynamoDBDocumentClient.from(dynamoDb, { marshallOptions: { removeUndefinedValues: true } });
  }

  async createOrder(order: Order): Promise<Order> {
    try {
      await this.documents.send(
        new PutCommand({
          TableName: this.tableName,
          Item: order,
          ConditionExpression: 'attribute_not_exists(orderId)',
        }),
      );
      return order;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const existing = await this.getOrder(order.orderId);
      if (!existing) throw error;
      return existing;
    }
  }

  async getOrder(orderId: string): Promise<Order | undefined> {
    const { Item } = await this.documents.send(
      new GetCommand({ TableName: this.tableName, Key: { orderId }, ConsistentRead: true }),
    );
    return Item as Order | undefined;
  }

  async findOrderIdByPaymentIntent(paymentIntentId: string): Promise<string | undefined> {
    const { Items } = await this.documents.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: ordersTable.paymentIntentIndex,
        KeyConditionExpression: 'paymentIntentId = :pi',
        ExpressionAttributeValues: { ':pi': paymentIntentId },
        ProjectionExpression: 'orderId',
        Limit: 1,
      }),
    );
    return Items?.[0]?.orderId as string | undefined;
  }

  async reserveRefund(orderId: string, tenantId: string, refund: RefundRecord): Promise<'reserved' | 'rejected'> {
    const outcome = await this.transition({
      Key: { orderId },
      UpdateExpression:
        'SET amountRefundable = amountRefundable - :amount, amountRefunded = amountRefunded + :amount, refunds.#refundId = :refund, updatedAt = :now',
      ConditionExpression:
        'tenantId = :tenantId AND paymentStatus = :paid AND amountRefundable >= :amount AND attribute_not_exists(refunds.#refundId)',
      ExpressionAttributeNames: { '#refundId': refund.refundId },
      ExpressionAttributeValues: {
        ':amount': refund.amount,
        ':refund': refund,
        ':tenantId': tenantId,
        ':paid': 'paid',
        ':now': refund.createdAt,
      },
    });
    return outcome === 'applied' ? 'reserved' : 'rejected';
  }

  async recordRefundOutcome(
    orderId: string,
    refundId: string,
    { status, stripeRefundId, eventCreated }: { status: RefundStatus; stripeRefundId: string | null; eventCreated?: number },
  ): Promise<TransitionResult> {
    const lower = statusesBelow(status);
    const values: Record<string, unknown> = { ':status': status, ':now': this.now().toISOString() };
    lower.forEach((s, i) => (values[`:below${i}`] = s));
    const sets = ['refunds.#refundId.#status = :status', 'refunds.#refundId.updatedAt = :now', 'updatedAt = :now'];
    if (stripeRefundId) {
      sets.push('refunds.#refundId.stripeRefundId = :stripeRefundId');
      values[':stripeRefundId'] = stripeRefundId;
    }
    // A failed or canceled refund gave nothing back: return its amount to the balance. The
    // condition (status was below failed) makes this happen once however often it is reported.
    if (isReleasedRefund(status)) {
      sets.push(
        'amountRefundable = amountRefundable + refunds.#refundId.amount',
        'amountRefunded = amountRefunded - refunds.#refundId.amount',
        'refundReleasedAt = :releasedAt',
      );
      values[':releasedAt'] = eventCreated ?? Math.floor(this.now().getTime() / 1000);
    }
    return this.transition({
      Key: { orderId },
      UpdateExpression: `SET ${sets.join(', ')}`,
      ConditionExpression: `attribute_exists(refunds.#refundId) AND refunds.#refundId.#status IN (${lower.map((_, i) => `:below${i}`).join(', ')})`,
      ExpressionAttributeNames: { '#refundId': refundId, '#status': 'status' },
      ExpressionAttributeValues: values,
    });
  }

  /**
   * checkout.session.completed / async_payment_succeeded: record what Stripe charged; the order
   * becomes paid only when the money is in (payment_status "paid"). Evidence of payment wins over
   * an earlier expired/failed: a customer who was charged must have a paid, refundable order.
   */
  recordCheckoutCompleted(
    orderId: string,
    facts: { paymentIntentId: string | null; amountTotal: number; currency: string; paid: boolean },
  ): Promise<TransitionResult> {
    const sets = ['paymentStatus = :next', 'amountTotal = :total', 'currency = :currency', 'amountRefundable = :refundable', 'updatedAt = :now'];
    const values: Record<string, unknown> = {
      ':next': facts.paid ? 'paid' : 'pending',
      ':total': facts.amountTotal,
      ':currency': facts.currency,
      ':refundable': facts.paid ? facts.amountTotal : 0,
      ':pending': 'pending',
      ':now': this.now().toISOString(),
      ...(facts.paid ? { ':expired': 'expired', ':failed': 'failed' } : {}),
    };
    if (facts.paymentIntentId) {
      sets.push('paymentIntentId = :pi');
      values[':pi'] = facts.paymentIntentId;
    }
    return this.transition({
      Key: { orderId },
      UpdateExpression: `SET ${sets.join(', ')}`,
      ConditionExpression: facts.paid ? 'paymentStatus IN (:pending, :expired, :failed)' : 'paymentStatus = :pending',
      ExpressionAttributeValues: values,
    });
  }

  /** pending → failed | expired; on any other status it is a late or duplicate event. */
  settlePending(orderId: string, next: 'failed' | 'expired'): Promise<TransitionResult> {
    return this.transition({
      Key: { orderId },
      UpdateExpression: 'SET paymentStatus = :next, updatedAt = :now',
      ConditionExpression: 'paymentStatus = :pending',
      ExpressionAttributeValues: { ':next': next, ':pending': 'pending', ':now': this.now().toISOString() },
    });
  }

  /**
   * charge.refunded carries Stripe's cumulative amount_refunded, which also counts refunds made
   * outside this API (the Dashboard). We only ever raise our figure to Stripe's, and never with
   * an event older than the last refund failure (whose release it would undo). Before the order
   * is paid the event cannot apply yet: it is retried.
   */
  async raiseRefundedTotal(orderId: string, stripeAmountRefunded: number, eventCreated: number): Promise<TransitionResult> {
    const outcome = await this.update({
      Key: { orderId },
      UpdateExpression: 'SET amountRefunded = :refunded, amountRefundable = amountTotal - :refunded, updatedAt = :now',
      ConditionExpression:
        'paymentStatus = :paid AND amountRefunded < :refunded AND amountTotal >= :refunded AND (attribute_not_exists(refundReleasedAt) OR refundReleasedAt <= :created)',
      ExpressionAttributeValues: { ':refunded': stripeAmountRefunded, ':paid': 'paid', ':created': eventCreated, ':now': this.now().toISOString() },
    });
    if (outcome === 'applied') return 'applied';
    if (outcome.paymentStatus === 'pending') throw new OrderNotReadyError(orderId, 'refund reported before payment');
    return 'stale';
  }

  flagDisputed(orderId: string): Promise<TransitionResult> {
    return this.transition({
      Key: { orderId },
      UpdateExpression: 'SET disputed = :true, updatedAt = :now',
      ConditionExpression: 'disputed = :false',
      ExpressionAttributeValues: { ':true': true, ':false': false, ':now': this.now().toISOString() },
    });
  }

  /** A conditional update whose failed condition means "already past this point". */
  private async transition(input: Omit<UpdateCommandInput, 'TableName'>): Promise<TransitionResult> {
    return (await this.update(input)) === 'applied' ? 'applied' : 'stale';
  }

  /** A conditional update: 'applied', or the order as it is when the condition failed. */
  private async update(input: Omit<UpdateCommandInput, 'TableName'>): Promise<'applied' | Order> {
    try {
      await this.documents.send(new UpdateCommand({ TableName: this.tableName, ...input }));
      return 'applied';
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const orderId = (input.Key as { orderId: string }).orderId;
      const existing = await this.getOrder(orderId);
      if (!existing) throw new OrderNotFoundError(orderId);
      return existing;
    }
  }
}
