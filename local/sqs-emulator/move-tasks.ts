import { randomUUID } from 'node:crypto';
import { integerParameter, SqsError } from './errors';
import type { Queue, QueueStore } from './queues';

/**
 * Dead-letter queue redrive (StartMessageMoveTask, ListMessageMoveTasks, CancelMessageMoveTask).
 * As in SQS a task is asynchronous: it starts RUNNING, moves messages oldest first at its rate
 * and ends COMPLETED, CANCELLED or FAILED; only one task may be active per source queue.
 */
interface MoveTask {
  taskHandle: string;
  source: Queue;
  destinationArn: string | undefined;
  maxNumberOfMessagesPerSecond: number | undefined;
  status: 'RUNNING' | 'COMPLETED' | 'CANCELLED' | 'FAILED';
  toMove: Set<string>;
  moved: number;
  failureReason: string | undefined;
  startedAt: number;
  /** Messages the task may still move before its next tick, at its rate. */
  allowance: number;
}

const TICK_MS = 100;
// The highest rate a caller may ask for (StartMessageMoveTask, MaxNumberOfMessagesPerSecond).
const MAX_RATE = 500;

export class MoveTasks {
  private readonly tasks: MoveTask[] = [];
  private readonly timer: NodeJS.Timeout;

  /** @param ratePerSecond messages per second of a task that sets no rate; 0 keeps every task RUNNING until cancelled. */
  constructor(
    private readonly queues: QueueStore,
    private readonly ratePerSecond: number,
    private readonly clock: () => number,
  ) {
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  close() {
    clearInterval(this.timer);
  }

  start(input: Record<string, unknown>) {
    const source = this.queues.byArn(input.SourceArn);
    // "Currently limited to supporting message redrive from dead-letter queues (DLQs) only."
    if (!this.queues.isDeadLetterQueue(source)) throw new SqsError('InvalidParameterValue', 'Source queue must be configured as a Dead Letter Queue.');
    const destination = input.DestinationArn === undefined ? undefined : this.queues.byArn(input.DestinationArn);
    const rate = integerParameter('MaxNumberOfMessagesPerSecond', input.MaxNumberOfMessagesPerSecond, 1, MAX_RATE);
    // "Only one active message movement task is supported per queue at any given time."
    if (this.tasks.some((t) => t.source === source && t.status === 'RUNNING')) {
      throw new SqsError('UnsupportedOperation', `There is already a task running. Only one active task is allowed for each source queue arn at a given time.`);
    }
    const now = this.clock();
    this.queues.housekeep(source, now);
    const task: MoveTask = {
      taskHandle: Buffer.from(JSON.stringify({ taskId: randomUUID(), sourceArn: source.arn })).toString('base64'),
      source,
      destinationArn: destination?.arn,
      maxNumberOfMessagesPerSecond: rate,
      status: 'RUNNING',
      toMove: new Set(source.messages.map((m) => m.messageId)),
      moved: 0,
      failureReason: undefined,
      startedAt: now,
      allowance: 0,
    };
    this.tasks.push(task);
    return { TaskHandle: task.taskHandle };
  }

  list(input: Record<string, unknown>) {
    const source = this.queues.byArn(input.SourceArn);
    const max = integerParameter('MaxResults', input.MaxResults, 1, 10) ?? 1;
    const results = this.tasks
      .filter((t) => t.source.arn === source.arn)
      .reverse()
      .slice(0, max)
      .map((t) => ({
        // "Only populated for tasks that are in RUNNING status" (ListMessageMoveTasks, TaskHandle).
        ...(t.status === 'RUNNING' ? { TaskHandle: t.taskHandle } : {}),
        Status: t.status,
        SourceArn: t.source.arn,
        ...(t.destinationArn ? { DestinationArn: t.destinationArn } : {}),
        ...(t.maxNumberOfMessagesPerSecond ? { MaxNumberOfMessagesPerSecond: t.maxNumberOfMessagesPerSecond } : {}),
        ApproximateNumberOfMessagesMoved: t.moved,
        ApproximateNumberOfMessagesToMove: t.toMove.size + t.moved,
        ...(t.failureReason ? { FailureReason: t.failureReason } : {}),
        StartedTimestamp: t.startedAt,
      }));
    return { Results: results };
  }

  cancel(input: Record<string, unknown>) {
    const task = this.tasks.find((t) => t.taskHandle === input.TaskHandle);
    if (!task) throw new SqsError('ResourceNotFoundException', 'The specified task handle does not exist.');
    // "A message movement can only be cancelled when the current status is RUNNING."
    if (task.status !== 'RUNNING') throw new SqsError('UnsupportedOperation', `The task is ${task.status}; only a RUNNING task can be cancelled.`);
    task.status = 'CANCELLED';
    return { ApproximateNumberOfMessagesMoved: task.moved };
  }

  private tick() {
    for (const task of this.tasks.filter((t) => t.status === 'RUNNING')) {
      const rate = Math.min(task.maxNumberOfMessagesPerSecond ?? this.ratePerSecond, this.ratePerSecond);
      // At most one second's worth saved up: a task waiting for in-flight messages does not burst later.
      task.allowance = Math.min(task.allowance + (rate * TICK_MS) / 1000, Math.max(rate, 1));
      try {
        this.advance(task);
      } catch (error) {
        task.status = 'FAILED';
        task.failureReason = error instanceof SqsError ? error.code : 'InternalError';
      }
    }
  }

  /** Moves what the allowance permits; completes once no message that was there at the start remains. */
  private advance(task: MoveTask) {
    const now = this.clock();
    this.queues.housekeep(task.source, now);
    const remaining = task.source.messages.filter((m) => task.toMove.has(m.messageId));
    for (const id of [...task.toMove]) if (!remaining.some((m) => m.messageId === id)) task.toMove.delete(id);
    // Messages in flight (someone is looking at them) wait for their visibility timeout.
    for (const message of remaining.filter((m) => m.visibleAt <= now)) {
      if (task.allowance < 1) return;
      const targetArn = task.destinationArn ?? message.deadLetterSourceArn;
      const target = this.queues.findByArn(targetArn);
      if (!target) throw new SqsError(targetArn ? 'AWS.SimpleQueueService.NonExistentQueue' : 'CouldNotDetermineMessageSource', 'No destination for the message.');
      task.source.messages.splice(task.source.messages.indexOf(message), 1);
      task.toMove.delete(message.messageId);
      this.queues.enqueueRedriven(target, message);
      task.moved += 1;
      task.allowance -= 1;
    }
    if (task.toMove.size === 0) task.status = 'COMPLETED';
  }
}
