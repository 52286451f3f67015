import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describeListing, listDeadLetters, queueDepth, redriveDeadLetters } from '../../bin/dlq';
import { LOCAL_CREDENTIALS } from '../../local/dynamodb';
import { startSqsEmulator, type SqsEmulator, type SqsEmulatorOptions } from '../../local/sqs-emulator/server';

// bin/dlq.ts against the emulator behaving the hard way: short polls that come back empty from a
// queue that is not, move tasks that run asynchronously (or never finish), a DLQ whose messages
// are all in flight.
let counter = 0;

async function emulatorWith(options: SqsEmulatorOptions) {
  const emulator = await startSqsEmulator(options);
  const sqs = new SQSClient({ endpoint: emulator.url, region: 'us-east-1', credentials: LOCAL_CREDENTIALS, maxAttempts: 1 });
  return { emulator, sqs, close: async () => (sqs.destroy(), await emulator.close()) };
}

/** A queue and its DLQ holding `count` dead letters, each received `maxReceiveCount` times. */
async function deadLetters(sqs: SQSClient, count: number, maxReceiveCount = 2) {
  const name = `events${++counter}`;
  const dlqUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }))).QueueUrl!;
  const dlqArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
  const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount }) } }))).QueueUrl!;
  for (let i = 0; i < count; i += 10) {
    const entries = Array.from({ length: Math.min(10, count - i) }, (_, n) => ({
      Id: `e${i + n}`,
      MessageBody: JSON.stringify({ id: `evt_${i + n}` }),
      MessageAttributes: { stripeEventId: { DataType: 'String', StringValue: `evt_${i + n}` }, stripeEventType: { DataType: 'String', StringValue: 'charge.refunded' } },
    }));
    await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
  }
  // Each round receives every message once (long polls, as the event source mapping does), then lets them all go.
  for (let round = 0; round < maxReceiveCount; round++) {
    const handles: string[] = [];
    for (;;) {
      const { Messages } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 30 }));
      if (!Messages) break;
      handles.push(...Messages.map((m) => m.ReceiptHandle!));
    }
    expect(handles).toHaveLength(count);
    for (const ReceiptHandle of handles) await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle, VisibilityTimeout: 0 }));
  }
  await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 0 })); // moves them
  expect(await queueDepth(sqs, dlqUrl)).toEqual({ visible: count, inFlight: 0, delayed: 0 });
  return { queueUrl, dlqUrl, dlqArn };
}

/** Every message's ApproximateReceiveCount, read with one long-polled receive each (which adds one). */
async function receiveCounts(sqs: SQSClient, QueueUrl: string) {
  const counts = new Map<string, number>();
  for (;;) {
    const { Messages } = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 60, MessageSystemAttributeNames: ['All'] }));
    if (!Messages) return counts;
    for (const m of Messages) counts.set(m.MessageId!, Number(m.Attributes!.ApproximateReceiveCount));
  }
}

describe('dlq:list', () => {
  it('lists every message of a DLQ whose short polls all come back empty', async () => {
    const { sqs, close } = await emulatorWith({ shortPolls: 'sampled', random: () => 0.99 });
    try {
      const { dlqUrl } = await deadLetters(sqs, 15);
      expect((await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: 10 }))).Messages).toBeUndefined();
      const listing = await listDeadLetters(sqs, dlqUrl, 50);
      expect(listing.letters.map((l) => l.stripeEventId).sort()).toEqual(Array.from({ length: 15 }, (_, i) => `evt_${i}`).sort());
      expect(describeListing(dlqUrl, listing)).not.toMatch(/empty/);
    } finally {
      await close();
    }
  }, 30_000);

  it('lists every message with real sampling (each short poll sees about half of them)', async () => {
    const { sqs, close } = await emulatorWith({ shortPolls: 'sampled' });
    try {
      const { dlqUrl } = await deadLetters(sqs, 12);
      const listing = await listDeadLetters(sqs, dlqUrl, 50);
      expect(new Set(listing.letters.map((l) => l.messageId)).size).toBe(12);
    } finally {
      await close();
    }
  }, 30_000);

  it('reports the receive counts the messages had, and adds exactly one receive per listing however many polls it takes', async () => {
    const { sqs, close } = await emulatorWith({});
    try {
      const { dlqUrl } = await deadLetters(sqs, 25, 3);
      const listing = await listDeadLetters(sqs, dlqUrl, 1000);
      expect(listing.letters).toHaveLength(25);
      expect(new Set(listing.letters.map((l) => l.receiveCount))).toEqual(new Set([3]));
      expect(listing.depth).toEqual({ visible: 25, inFlight: 0, delayed: 0 }); // released, not held
      // 3 by the consumer + 1 by the listing + 1 by this check.
      expect(new Set((await receiveCounts(sqs, dlqUrl)).values())).toEqual(new Set([5]));
    } finally {
      await close();
    }
  }, 30_000);

  it('stops at --max, leaving the rest untouched', async () => {
    const { sqs, close } = await emulatorWith({});
    try {
      const { dlqUrl } = await deadLetters(sqs, 12, 1);
      const listing = await listDeadLetters(sqs, dlqUrl, 5);
      expect(listing.letters).toHaveLength(5);
      expect(describeListing(dlqUrl, listing)).toMatch(/^5 message\(s\) listed, about 12 in the DLQ/);
      const counts = [...(await receiveCounts(sqs, dlqUrl)).values()].sort();
      expect(counts).toEqual([...Array(7).fill(2), ...Array(5).fill(3)]);
    } finally {
      await close();
    }
  }, 30_000);

  it('does not call a DLQ empty when all its messages are in flight', async () => {
    const { sqs, close } = await emulatorWith({});
    try {
      const { dlqUrl } = await deadLetters(sqs, 2, 1);
      await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 600 })); // someone else holds them
      const listing = await listDeadLetters(sqs, dlqUrl);
      expect(listing.letters).toEqual([]);
      expect(describeListing(dlqUrl, listing)).toMatch(/^The DLQ is not empty .*about 2 message\(s\), none visible right now \(2 being received/);
    } finally {
      await close();
    }
  });

  it('calls an empty DLQ empty', async () => {
    const { sqs, close } = await emulatorWith({});
    try {
      const dlqUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'empty-dlq' }))).QueueUrl!;
      expect(describeListing(dlqUrl, await listDeadLetters(sqs, dlqUrl))).toBe(`The DLQ is empty (${dlqUrl}).`);
    } finally {
      await close();
    }
  });
});

describe('dlq:redrive', () => {
  it('waits for an asynchronous move task and reports what it moved', async () => {
    const { sqs, close } = await emulatorWith({ moveTaskMessagesPerSecond: 4 });
    try {
      const { queueUrl, dlqUrl } = await deadLetters(sqs, 3, 1);
      expect(await redriveDeadLetters(sqs, dlqUrl, { pollMs: 50 })).toBe(3);
      expect(await queueDepth(sqs, dlqUrl)).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
      expect(await queueDepth(sqs, queueUrl)).toEqual({ visible: 3, inFlight: 0, delayed: 0 });
    } finally {
      await close();
    }
  });

  it('reports its own task, not an older one, once the task has lost its handle', async () => {
    const { sqs, close } = await emulatorWith({});
    try {
      const { queueUrl, dlqUrl, dlqArn } = await deadLetters(sqs, 3, 1);
      expect(await redriveDeadLetters(sqs, dlqUrl, { pollMs: 50 })).toBe(3);
      // Two of the three fail again and return to the same DLQ; the third is processed.
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
      expect(Messages).toHaveLength(3);
      await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: Messages[0].ReceiptHandle }));
      for (const m of Messages.slice(1)) await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 }));
      await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl }));
      expect(await queueDepth(sqs, dlqUrl)).toEqual({ visible: 2, inFlight: 0, delayed: 0 });
      expect(await redriveDeadLetters(sqs, dlqUrl, { pollMs: 50 })).toBe(2);
      const { Results = [] } = await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: dlqArn, MaxResults: 10 }));
      expect(Results.map((t) => [t.Status, t.ApproximateNumberOfMessagesMoved])).toEqual([['COMPLETED', 2], ['COMPLETED', 3]]);
    } finally {
      await close();
    }
  });

  it('refuses to start a second task while one is running, and says how to cancel it', async () => {
    const { sqs, close } = await emulatorWith({ moveTaskMessagesPerSecond: 0 });
    try {
      const { dlqUrl, dlqArn } = await deadLetters(sqs, 1, 1);
      await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: dlqArn }));
      await expect(redriveDeadLetters(sqs, dlqUrl)).rejects.toThrow(/already running.*cancel-message-move-task --task-handle \S+/);
      expect((await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: dlqArn, MaxResults: 10 }))).Results).toHaveLength(1);
    } finally {
      await close();
    }
  });

  it('gives up after its timeout while the task keeps RUNNING, and says where to look', async () => {
    const { sqs, close } = await emulatorWith({ moveTaskMessagesPerSecond: 0 });
    try {
      const { dlqUrl } = await deadLetters(sqs, 1, 1);
      await expect(redriveDeadLetters(sqs, dlqUrl, { timeoutMs: 200, pollMs: 50 })).rejects.toThrow(/still running .*list-message-move-tasks/);
    } finally {
      await close();
    }
  });
});

describe('bin/dlq.ts command line', () => {
  const run = (args: string[], env: Record<string, string> = {}) =>
    promisify(execFile)('npx', ['tsx', 'bin/dlq.ts', ...args], { encoding: 'utf8', env: { ...process.env, ...env } }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
    );

  it('answers --help with the usage and exit 0', async () => {
    const { code, stdout } = await run(['--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^usage: npm run dlq:list/);
  }, 30_000);

  it.each([
    ['no command', []],
    ['an unknown command', ['peek']],
    ['an unknown option', ['list', '--queue', 'x']],
    ['a --max that is not a number', ['list', '--max', 'ten']],
    ['a --max of 0', ['list', '--max', '0']],
    ['an extra argument', ['list', 'now']],
    ['a queue URL that is not a URL', ['list', '--queue-url', 'stripe-events-dlq']],
  ])('answers %s with the usage on stderr and exit 2, never a stack trace', async (_, args) => {
    const { code, stdout, stderr } = await run(args);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/usage: npm run dlq:list/);
    expect(stderr).not.toMatch(/\n\s+at /);
  }, 30_000);

  it('lists a DLQ of the emulator by its URL', async () => {
    const { sqs, close } = await emulatorWith({ shortPolls: 'sampled', random: () => 0.99 });
    try {
      const { dlqUrl } = await deadLetters(sqs, 2, 1);
      const { code, stdout } = await run(['list', '--queue-url', dlqUrl]);
      expect(code).toBe(0);
      expect(stdout).toMatch(/2 message\(s\) listed/);
      expect(stdout).toContain('evt_0');
      expect(stdout).toContain('evt_1');
    } finally {
      await close();
    }
  }, 30_000);
});
