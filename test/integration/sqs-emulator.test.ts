import {
  ChangeMessageVisibilityBatchCommand,
  ChangeMessageVisibilityCommand,
  ListQueuesCommand,
  SetQueueAttributesCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListMessageMoveTasksCommand,
  PurgeQueueCommand,
  QueueDoesNotExist,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { LOCAL_CREDENTIALS } from '../../local/dynamodb';
import { startSqsEmulator, type SqsEmulator } from '../../local/sqs-emulator/server';

// The real SDK client validates MD5OfBody / MD5OfMessageAttributes on every send and receive.
let emulator: SqsEmulator;
let sqs: SQSClient;
let counter = 0;

beforeAll(async () => {
  emulator = await startSqsEmulator();
  sqs = new SQSClient({ endpoint: emulator.url, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
});
afterAll(async () => {
  sqs.destroy();
  await emulator.close();
});

async function queuePair(maxReceiveCount = 2, visibilityTimeout = 30) {
  const name = `q${++counter}`;
  const { QueueUrl: dlqUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }));
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }));
  const { QueueUrl: queueUrl } = await sqs.send(
    new CreateQueueCommand({
      QueueName: name,
      Attributes: {
        VisibilityTimeout: String(visibilityTimeout),
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: Attributes!.QueueArn, maxReceiveCount }),
      },
    }),
  );
  return { queueUrl: queueUrl!, dlqUrl: dlqUrl!, dlqArn: Attributes!.QueueArn! };
}

const receive = (QueueUrl: string, extra: Partial<ConstructorParameters<typeof ReceiveMessageCommand>[0]> = {}) =>
  sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, MessageAttributeNames: ['All'], MessageSystemAttributeNames: ['All'], ...extra })).then((r) => r.Messages ?? []);
const depth = async (QueueUrl: string) => {
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['All'] }));
  return { visible: Number(Attributes!.ApproximateNumberOfMessages), inFlight: Number(Attributes!.ApproximateNumberOfMessagesNotVisible) };
};

describe('local SQS emulator, driven by @aws-sdk/client-sqs', () => {
  it('round-trips body and message attributes, and counts receives', async () => {
    const { queueUrl } = await queuePair();
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: '{"id":"evt_1"}',
        MessageAttributes: {
          stripeEventId: { DataType: 'String', StringValue: 'evt_1' },
          stripeEventCreated: { DataType: 'Number', StringValue: '1700000000' },
        },
      }),
    );
    const [message] = await receive(queueUrl);
    expect(message.Body).toBe('{"id":"evt_1"}');
    expect(message.MessageAttributes?.stripeEventId.StringValue).toBe('evt_1');
    expect(message.Attributes?.ApproximateReceiveCount).toBe('1');
    expect(await depth(queueUrl)).toEqual({ visible: 0, inFlight: 1 });
  });

  it('hides a received message for the visibility timeout, and shows it again when changed to 0', async () => {
    const { queueUrl } = await queuePair(5);
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'a' }));
    const [first] = await receive(queueUrl);
    expect(await receive(queueUrl)).toHaveLength(0);
    await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: first.ReceiptHandle, VisibilityTimeout: 0 }));
    const [again] = await receive(queueUrl);
    expect(again.MessageId).toBe(first.MessageId);
    expect(again.Attributes?.ApproximateReceiveCount).toBe('2');
    await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: again.ReceiptHandle }));
    expect(await depth(queueUrl)).toEqual({ visible: 0, inFlight: 0 });
  });

  it('uses the per-receive visibility timeout, after which the message returns', async () => {
    const { queueUrl } = await queuePair(5);
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'b' }));
    await receive(queueUrl, { VisibilityTimeout: 1 });
    expect(await receive(queueUrl)).toHaveLength(0);
    const [back] = await receive(queueUrl, { WaitTimeSeconds: 3 });
    expect(back.Body).toBe('b');
  });

  it('long-polls until a message arrives', async () => {
    const { queueUrl } = await queuePair();
    const waiting = receive(queueUrl, { WaitTimeSeconds: 5 });
    setTimeout(() => void sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'late' })), 100);
    expect((await waiting).map((m) => m.Body)).toEqual(['late']);
  });

  it('dead-letters after maxReceiveCount receives, and StartMessageMoveTask brings it back', async () => {
    const { queueUrl, dlqUrl, dlqArn } = await queuePair(2);
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'poison' }));
    for (let i = 0; i < 2; i++) {
      const [m] = await receive(queueUrl);
      await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 }));
    }
    expect(await receive(queueUrl)).toHaveLength(0); // the third receive finds it dead-lettered
    expect(await depth(dlqUrl)).toEqual({ visible: 1, inFlight: 0 });

    const { TaskHandle } = await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: dlqArn }));
    expect(TaskHandle).toBeTruthy();
    const { Results } = await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: dlqArn }));
    expect(Results?.[0]).toMatchObject({ Status: 'COMPLETED', ApproximateNumberOfMessagesMoved: 1 });
    const [back] = await receive(queueUrl);
    expect(back.Body).toBe('poison');
    expect(back.Attributes?.ApproximateReceiveCount).toBe('1');
    expect(await depth(dlqUrl)).toEqual({ visible: 0, inFlight: 0 });
  });

  it('refuses a move task from a queue that is not a DLQ', async () => {
    const { queueUrl } = await queuePair();
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
    await expect(sqs.send(new StartMessageMoveTaskCommand({ SourceArn: Attributes!.QueueArn }))).rejects.toThrow(/Dead Letter Queue/);
  });

  it('sends and deletes in batches, and purges', async () => {
    const { queueUrl } = await queuePair();
    const sent = await sqs.send(
      new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: Array.from({ length: 10 }, (_, i) => ({ Id: `m${i}`, MessageBody: `body ${i}` })) }),
    );
    expect(sent.Successful).toHaveLength(10);
    const received = await receive(queueUrl);
    expect(received).toHaveLength(10);
    const deleted = await sqs.send(
      new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: received.slice(0, 4).map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle })) }),
    );
    expect(deleted.Successful).toHaveLength(4);
    expect(await depth(queueUrl)).toEqual({ visible: 0, inFlight: 6 });
    await sqs.send(new PurgeQueueCommand({ QueueUrl: queueUrl }));
    expect(await depth(queueUrl)).toEqual({ visible: 0, inFlight: 0 });
  });

  it('changes visibility in batches, sets attributes, and lists queues by prefix', async () => {
    const { queueUrl, dlqUrl } = await queuePair(5);
    await sqs.send(new SetQueueAttributesCommand({ QueueUrl: queueUrl, Attributes: { VisibilityTimeout: '60' } }));
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['VisibilityTimeout'] }));
    expect(Attributes).toEqual({ VisibilityTimeout: '60' });
    await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: [{ Id: 'a', MessageBody: 'a' }, { Id: 'b', MessageBody: 'b' }] }));
    const received = await receive(queueUrl);
    const changed = await sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: queueUrl,
        Entries: [...received.map((m, i) => ({ Id: `ok${i}`, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 })), { Id: 'bad', ReceiptHandle: 'nope', VisibilityTimeout: 0 }],
      }),
    );
    expect(changed.Successful?.map((e) => e.Id).sort()).toEqual(['ok0', 'ok1']);
    expect(changed.Failed).toEqual([expect.objectContaining({ Id: 'bad', Code: 'ReceiptHandleIsInvalid', SenderFault: true })]);
    expect((await receive(queueUrl)).map((m) => m.Body).sort()).toEqual(['a', 'b']);
    const name = queueUrl.split('/').pop()!;
    expect((await sqs.send(new ListQueuesCommand({ QueueNamePrefix: name }))).QueueUrls?.sort()).toEqual([queueUrl, dlqUrl].sort());
  });

  it('answers QueueDoesNotExist as the SDK expects', async () => {
    await expect(sqs.send(new GetQueueUrlCommand({ QueueName: 'nope' }))).rejects.toBeInstanceOf(QueueDoesNotExist);
  });
});
