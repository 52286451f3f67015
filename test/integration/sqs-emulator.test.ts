import {
  CancelMessageMoveTaskCommand,
  ChangeMessageVisibilityBatchCommand,
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListMessageMoveTasksCommand,
  ListQueuesCommand,
  PurgeQueueCommand,
  QueueDoesNotExist,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SetQueueAttributesCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
  type MessageAttributeValue,
} from '@aws-sdk/client-sqs';
import { LOCAL_CREDENTIALS } from '../../local/dynamodb';
import { startSqsEmulator, type SqsEmulator, type SqsEmulatorOptions } from '../../local/sqs-emulator/server';

// Every test drives the emulator with the real SDK client, which also checks MD5OfBody and
// MD5OfMessageAttributes on every send and receive. Each asserts what SQS documents, and counts
// what is left in the queue, not only the answer.
let emulator: SqsEmulator;
let sqs: SQSClient;
let counter = 0;

const clientFor = (e: SqsEmulator) => new SQSClient({ endpoint: e.url, region: 'us-east-1', credentials: LOCAL_CREDENTIALS, maxAttempts: 1 });

beforeAll(async () => {
  emulator = await startSqsEmulator();
  sqs = clientFor(emulator);
});
afterAll(async () => {
  sqs.destroy();
  await emulator.close();
});

async function queuePair(maxReceiveCount = 2, visibilityTimeout = 30, client = sqs) {
  const name = `q${++counter}`;
  const { QueueUrl: dlqUrl } = await client.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }));
  const dlqArn = await arnOf(dlqUrl!, client);
  const { QueueUrl: queueUrl } = await client.send(
    new CreateQueueCommand({
      QueueName: name,
      Attributes: { VisibilityTimeout: String(visibilityTimeout), RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount }) },
    }),
  );
  return { queueUrl: queueUrl!, dlqUrl: dlqUrl!, dlqArn, queueArn: await arnOf(queueUrl!, client) };
}
async function queue(attributes: Record<string, string> = {}, client = sqs) {
  return (await client.send(new CreateQueueCommand({ QueueName: `plain${++counter}`, Attributes: attributes }))).QueueUrl!;
}
async function arnOf(QueueUrl: string, client = sqs) {
  return (await client.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
}

const receive = (QueueUrl: string, extra: Partial<ConstructorParameters<typeof ReceiveMessageCommand>[0]> = {}, client = sqs) =>
  client.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, MessageAttributeNames: ['All'], MessageSystemAttributeNames: ['All'], ...extra })).then((r) => r.Messages ?? []);
const send = (QueueUrl: string, MessageBody: string, extra: Partial<ConstructorParameters<typeof SendMessageCommand>[0]> = {}) =>
  sqs.send(new SendMessageCommand({ QueueUrl, MessageBody, ...extra }));
const depth = async (QueueUrl: string, client = sqs) => {
  const { Attributes } = await client.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['All'] }));
  return { visible: Number(Attributes!.ApproximateNumberOfMessages), inFlight: Number(Attributes!.ApproximateNumberOfMessagesNotVisible) };
};
/** Dead-letters one message: received maxReceiveCount times, then found past its limit. */
async function deadLetter(pair: Awaited<ReturnType<typeof queuePair>>, body: string, maxReceiveCount = 2, client = sqs) {
  await client.send(new SendMessageCommand({ QueueUrl: pair.queueUrl, MessageBody: body }));
  for (let i = 0; i < maxReceiveCount; i++) {
    const [m] = await receive(pair.queueUrl, {}, client);
    await client.send(new ChangeMessageVisibilityCommand({ QueueUrl: pair.queueUrl, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 }));
  }
  expect(await receive(pair.queueUrl, {}, client)).toHaveLength(0);
}
async function eventually(check: () => Promise<boolean>, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
/** A second emulator whose clock the test moves by hand. */
async function withClock(run: (ctx: { client: SQSClient; advance: (ms: number) => void }) => Promise<void>, options: SqsEmulatorOptions = {}) {
  let now = Date.now();
  const own = await startSqsEmulator({ ...options, clock: () => now });
  const client = clientFor(own);
  try {
    await run({ client, advance: (ms) => (now += ms) });
  } finally {
    client.destroy();
    await own.close();
  }
}
const string = (StringValue: string): MessageAttributeValue => ({ DataType: 'String', StringValue });

describe('messages: send, receive, visibility', () => {
  it('round-trips body and message attributes, and counts receives', async () => {
    const { queueUrl } = await queuePair();
    await send(queueUrl, '{"id":"evt_1"}', { MessageAttributes: { stripeEventId: string('evt_1'), stripeEventCreated: { DataType: 'Number', StringValue: '1700000000' } } });
    const [message] = await receive(queueUrl);
    expect(message.Body).toBe('{"id":"evt_1"}');
    expect(message.MessageAttributes?.stripeEventId.StringValue).toBe('evt_1');
    expect(message.Attributes?.ApproximateReceiveCount).toBe('1');
    expect(await depth(queueUrl)).toEqual({ visible: 0, inFlight: 1 });
  });

  it('answers an empty receive with no Messages list at all, as SQS does', async () => {
    const queueUrl = await queue();
    const response = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl }));
    expect(response.Messages).toBeUndefined();
    expect(Object.keys(response).filter((k) => k !== '$metadata')).toEqual([]);
  });

  it('hides a received message for the visibility timeout, and shows it again when changed to 0', async () => {
    const { queueUrl } = await queuePair(5);
    await send(queueUrl, 'a');
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
    await send(queueUrl, 'b');
    await receive(queueUrl, { VisibilityTimeout: 1 });
    expect(await receive(queueUrl)).toHaveLength(0);
    const [back] = await receive(queueUrl, { WaitTimeSeconds: 3 });
    expect(back.Body).toBe('b');
  });

  it('long-polls until a message arrives', async () => {
    const queueUrl = await queue();
    const waiting = receive(queueUrl, { WaitTimeSeconds: 5 });
    setTimeout(() => void send(queueUrl, 'late'), 100);
    expect((await waiting).map((m) => m.Body)).toEqual(['late']);
  });

  it('refuses ChangeMessageVisibility on a message that is no longer in flight (MessageNotInflight)', async () => {
    const queueUrl = await queue();
    await send(queueUrl, 'x');
    const [m] = await receive(queueUrl, { VisibilityTimeout: 1 });
    await eventually(async () => (await depth(queueUrl)).visible === 1);
    await expect(sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 30 }))).rejects.toMatchObject({
      name: 'MessageNotInflight',
    });
    expect(await depth(queueUrl)).toEqual({ visible: 1, inFlight: 0 });
  });

  it('caps visibility at 12 hours after the receive: a later extension to 43200 s is refused', async () => {
    await withClock(async ({ client, advance }) => {
      const queueUrl = await queue({}, client);
      await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'long job' }));
      const [m] = await receive(queueUrl, {}, client);
      advance(1000);
      const extend = (VisibilityTimeout: number) => client.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout }));
      await expect(extend(43_200)).rejects.toMatchObject({ name: 'InvalidParameterValue', message: expect.stringMatching(/43200 seconds/) });
      await extend(43_199);
      advance(43_198_000);
      expect(await depth(queueUrl, client)).toEqual({ visible: 0, inFlight: 1 });
      advance(1000);
      expect(await depth(queueUrl, client)).toEqual({ visible: 1, inFlight: 0 });
    });
  });

  it('refuses ChangeMessageVisibility with a handle superseded by a later receive', async () => {
    const queueUrl = await queue();
    await send(queueUrl, 'x');
    const [first] = await receive(queueUrl, { VisibilityTimeout: 0 });
    const [second] = await receive(queueUrl);
    await expect(sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: first.ReceiptHandle, VisibilityTimeout: 0 }))).rejects.toMatchObject({
      name: 'InvalidParameterValue',
    });
    await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: second.ReceiptHandle, VisibilityTimeout: 0 }));
    expect(await depth(queueUrl)).toEqual({ visible: 1, inFlight: 0 });
  });

  it('changes visibility in batches, reporting a bad handle under Failed', async () => {
    const queueUrl = await queue();
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
  });
});

describe('receipt handles', () => {
  it('refuses DeleteMessage with a MessageId for a handle (ReceiptHandleIsInvalid) and deletes nothing', async () => {
    const queueUrl = await queue();
    const { MessageId } = await send(queueUrl, 'keep me');
    await receive(queueUrl);
    await expect(sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: MessageId }))).rejects.toMatchObject({ name: 'ReceiptHandleIsInvalid' });
    expect(await depth(queueUrl)).toEqual({ visible: 0, inFlight: 1 });
  });

  it('lists a garbage handle under Failed in DeleteMessageBatch, and deletes only the good one', async () => {
    const queueUrl = await queue();
    await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: [{ Id: 'a', MessageBody: 'a' }, { Id: 'b', MessageBody: 'b' }] }));
    const [first] = await receive(queueUrl, { MaxNumberOfMessages: 1 });
    const result = await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: [{ Id: 'good', ReceiptHandle: first.ReceiptHandle }, { Id: 'bad', ReceiptHandle: 'garbage' }] }));
    expect(result.Successful?.map((e) => e.Id)).toEqual(['good']);
    expect(result.Failed).toEqual([expect.objectContaining({ Id: 'bad', Code: 'ReceiptHandleIsInvalid', SenderFault: true })]);
    expect(await depth(queueUrl)).toEqual({ visible: 1, inFlight: 0 });
  });

  it('refuses a handle issued by another queue', async () => {
    const [a, b] = [await queue(), await queue()];
    await send(a, 'in a');
    const [m] = await receive(a);
    await expect(sqs.send(new DeleteMessageCommand({ QueueUrl: b, ReceiptHandle: m.ReceiptHandle }))).rejects.toMatchObject({ name: 'ReceiptHandleIsInvalid' });
    expect(await depth(a)).toEqual({ visible: 0, inFlight: 1 });
  });

  it('accepts a second delete of a message already deleted', async () => {
    const queueUrl = await queue();
    await send(queueUrl, 'once');
    const [m] = await receive(queueUrl);
    await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }));
    await expect(sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }))).resolves.toBeDefined();
    expect(await depth(queueUrl)).toEqual({ visible: 0, inFlight: 0 });
  });

  it('deletes with the handle of the latest receive even after its visibility timeout expired', async () => {
    const queueUrl = await queue();
    await send(queueUrl, 'late delete');
    const [m] = await receive(queueUrl, { VisibilityTimeout: 0 });
    await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }));
    expect(await depth(queueUrl)).toEqual({ visible: 0, inFlight: 0 });
  });
});

describe('batches', () => {
  it('sends and deletes in batches, and purges', async () => {
    const queueUrl = await queue();
    const sent = await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: Array.from({ length: 10 }, (_, i) => ({ Id: `m${i}`, MessageBody: `body ${i}` })) }));
    expect(sent.Successful).toHaveLength(10);
    const received = await receive(queueUrl);
    expect(received).toHaveLength(10);
    const deleted = await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: received.slice(0, 4).map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle })) }));
    expect(deleted.Successful).toHaveLength(4);
    expect(await depth(queueUrl)).toEqual({ visible: 0, inFlight: 6 });
    await sqs.send(new PurgeQueueCommand({ QueueUrl: queueUrl }));
    expect(await depth(queueUrl)).toEqual({ visible: 0, inFlight: 0 });
  });

  it('rejects a whole SendMessageBatch with duplicate ids (BatchEntryIdsNotDistinct) and sends nothing', async () => {
    const queueUrl = await queue();
    await expect(sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: [{ Id: 'same', MessageBody: '1' }, { Id: 'same', MessageBody: '2' }] }))).rejects.toMatchObject({
      name: 'BatchEntryIdsNotDistinct',
    });
    expect(await depth(queueUrl)).toEqual({ visible: 0, inFlight: 0 });
  });

  it('rejects a whole DeleteMessageBatch with duplicate ids and deletes nothing', async () => {
    const queueUrl = await queue();
    await send(queueUrl, 'x');
    const [m] = await receive(queueUrl);
    const entries = [{ Id: 'd', ReceiptHandle: m.ReceiptHandle }, { Id: 'd', ReceiptHandle: m.ReceiptHandle }];
    await expect(sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }))).rejects.toMatchObject({ name: 'BatchEntryIdsNotDistinct' });
    expect(await depth(queueUrl)).toEqual({ visible: 0, inFlight: 1 });
  });

  it.each([
    ['a dot', 'has.dot'],
    ['a space', 'has space'],
    ['81 characters', 'x'.repeat(81)],
    ['an empty id', ''],
  ])('rejects a batch entry id with %s (InvalidBatchEntryId) and sends nothing', async (_, id) => {
    const queueUrl = await queue();
    await expect(sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: [{ Id: 'ok', MessageBody: '1' }, { Id: id, MessageBody: '2' }] }))).rejects.toMatchObject({
      name: 'InvalidBatchEntryId',
    });
    expect(await depth(queueUrl)).toEqual({ visible: 0, inFlight: 0 });
  });

  it('accepts an 80-character id with hyphens and underscores', async () => {
    const queueUrl = await queue();
    const id = `a-b_${'c'.repeat(76)}`;
    const sent = await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: [{ Id: id, MessageBody: '1' }] }));
    expect(sent.Successful?.map((e) => e.Id)).toEqual([id]);
    expect(await depth(queueUrl)).toEqual({ visible: 1, inFlight: 0 });
  });

  it('rejects an empty batch and one of 11 entries', async () => {
    const queueUrl = await queue();
    await expect(sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: [] }))).rejects.toMatchObject({ name: 'EmptyBatchRequest' });
    const eleven = Array.from({ length: 11 }, (_, i) => ({ Id: `m${i}`, MessageBody: 'x' }));
    await expect(sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: eleven }))).rejects.toMatchObject({ name: 'TooManyEntriesInBatchRequest' });
    expect(await depth(queueUrl)).toEqual({ visible: 0, inFlight: 0 });
  });

  it('rejects a SendMessageBatch over 1 MiB in total (BatchRequestTooLong) and sends nothing', async () => {
    const queueUrl = await queue();
    const half = 'x'.repeat(524_288);
    const entries = [{ Id: 'a', MessageBody: half }, { Id: 'b', MessageBody: half, MessageAttributes: { k: string('v') } }];
    await expect(sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }))).rejects.toMatchObject({ name: 'BatchRequestTooLong' });
    expect(await depth(queueUrl)).toEqual({ visible: 0, inFlight: 0 });
    const exact = await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: [{ Id: 'a', MessageBody: half }, { Id: 'b', MessageBody: half }] }));
    expect(exact.Successful).toHaveLength(2);
  });

  it('reports an entry that breaks a message rule under Failed, and sends the others', async () => {
    const queueUrl = await queue();
    const result = await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: [{ Id: 'ok', MessageBody: 'fine' }, { Id: 'bad', MessageBody: 'nul \u0000' }] }));
    expect(result.Successful?.map((e) => e.Id)).toEqual(['ok']);
    expect(result.Failed).toEqual([expect.objectContaining({ Id: 'bad', Code: 'InvalidMessageContents', SenderFault: true })]);
    expect(await depth(queueUrl)).toEqual({ visible: 1, inFlight: 0 });
  });
});

describe('message size and content', () => {
  it('counts message attributes (name, type, value) toward MaximumMessageSize', async () => {
    const queueUrl = await queue({ MaximumMessageSize: '1024' });
    // 1,000 body bytes + "key" (3) + "String" (6) + 15 value bytes = 1,024: exactly the limit.
    await send(queueUrl, 'x'.repeat(1000), { MessageAttributes: { key: string('v'.repeat(15)) } });
    await expect(send(queueUrl, 'x'.repeat(1000), { MessageAttributes: { key: string('v'.repeat(16)) } })).rejects.toMatchObject({
      name: 'InvalidParameterValue',
      message: expect.stringMatching(/shorter than 1024 bytes/),
    });
    expect(await depth(queueUrl)).toEqual({ visible: 1, inFlight: 0 });
  });

  it('counts the body in UTF-8 bytes, not characters', async () => {
    const queueUrl = await queue({ MaximumMessageSize: '1024' });
    await expect(send(queueUrl, 'é'.repeat(513))).rejects.toMatchObject({ name: 'InvalidParameterValue' });
    await send(queueUrl, 'é'.repeat(512));
    expect(await depth(queueUrl)).toEqual({ visible: 1, inFlight: 0 });
  });

  it('defaults MaximumMessageSize to 1 MiB and accepts a message of exactly 1 MiB, not one byte more', async () => {
    const queueUrl = await queue();
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['MaximumMessageSize'] }));
    expect(Attributes).toEqual({ MaximumMessageSize: '1048576' });
    await send(queueUrl, 'x'.repeat(1_048_576));
    await expect(send(queueUrl, 'x'.repeat(1_048_577))).rejects.toMatchObject({ name: 'InvalidParameterValue' });
    expect(await depth(queueUrl)).toEqual({ visible: 1, inFlight: 0 });
  });

  it.each([
    ['NUL', 'a\u0000b'],
    ['a vertical tab', 'a\u000bb'],
    ['a lone surrogate', 'a\ud800b'],
    ['U+FFFE', 'a\ufffeb'],
  ])('refuses a body with %s (InvalidMessageContents)', async (_, body) => {
    const queueUrl = await queue();
    await expect(send(queueUrl, body)).rejects.toMatchObject({ name: 'InvalidMessageContents' });
    expect(await depth(queueUrl)).toEqual({ visible: 0, inFlight: 0 });
  });

  it('accepts tabs, newlines, non-Latin text and emoji in a body', async () => {
    const queueUrl = await queue();
    const body = 'tab\tline\r\nκόσμε 🎉';
    await send(queueUrl, body);
    expect((await receive(queueUrl))[0].Body).toBe(body);
  });

  it('refuses more than 10 message attributes', async () => {
    const queueUrl = await queue();
    const attributes = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`a${i}`, string('v')]));
    await expect(send(queueUrl, 'x', { MessageAttributes: attributes })).rejects.toMatchObject({ name: 'InvalidParameterValue' });
    await send(queueUrl, 'x', { MessageAttributes: Object.fromEntries(Object.entries(attributes).slice(0, 10)) });
    expect(await depth(queueUrl)).toEqual({ visible: 1, inFlight: 0 });
  });

  it.each([
    ['an empty string value', { key: string('') }],
    ['a name reserved with AWS.', { 'AWS.trace': string('v') }],
    ['a name reserved with amazon. (any case)', { 'amazon.thing': string('v') }],
    ['a name ending in a period', { 'key.': string('v') }],
    ['a name with two periods in a row', { 'a..b': string('v') }],
    ['an unknown data type', { key: { DataType: 'Text', StringValue: 'v' } }],
    ['a Number that is not a number', { key: { DataType: 'Number', StringValue: 'twelve' } }],
    ['a Number with 39 digits', { key: { DataType: 'Number', StringValue: '1'.repeat(39) } }],
  ])('refuses a message attribute with %s', async (_, attributes) => {
    const queueUrl = await queue();
    await expect(send(queueUrl, 'x', { MessageAttributes: attributes as Record<string, MessageAttributeValue> })).rejects.toMatchObject({ name: 'InvalidParameterValue' });
    expect(await depth(queueUrl)).toEqual({ visible: 0, inFlight: 0 });
  });

  it('accepts custom data types and binary values, and round-trips them', async () => {
    const queueUrl = await queue();
    await send(queueUrl, 'x', { MessageAttributes: { amount: { DataType: 'Number.int', StringValue: '-12.50' }, blob: { DataType: 'Binary', BinaryValue: Buffer.from([0, 1, 2]) } } });
    const [m] = await receive(queueUrl);
    expect(m.MessageAttributes?.amount).toMatchObject({ DataType: 'Number.int', StringValue: '-12.50' });
    expect(Buffer.from(m.MessageAttributes!.blob.BinaryValue!)).toEqual(Buffer.from([0, 1, 2]));
  });
});

describe('parameters are rejected when out of range, never clamped', () => {
  it.each([
    ['MaxNumberOfMessages 0', { MaxNumberOfMessages: 0 }],
    ['MaxNumberOfMessages 11', { MaxNumberOfMessages: 11 }],
    ['WaitTimeSeconds 21', { WaitTimeSeconds: 21 }],
    ['VisibilityTimeout 43201', { VisibilityTimeout: 43_201 }],
  ])('ReceiveMessage with %s', async (_, extra) => {
    const queueUrl = await queue();
    await send(queueUrl, 'x');
    await expect(sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, ...extra }))).rejects.toMatchObject({ name: 'InvalidParameterValue' });
    expect(await depth(queueUrl)).toEqual({ visible: 1, inFlight: 0 });
  });

  it('SendMessage with DelaySeconds 901', async () => {
    const queueUrl = await queue();
    await expect(send(queueUrl, 'x', { DelaySeconds: 901 })).rejects.toMatchObject({ name: 'InvalidParameterValue' });
    await send(queueUrl, 'x', { DelaySeconds: 900 });
    expect(Number((await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessagesDelayed'] }))).Attributes!.ApproximateNumberOfMessagesDelayed)).toBe(1);
  });

  it('ChangeMessageVisibility with 43201', async () => {
    const queueUrl = await queue();
    await send(queueUrl, 'x');
    const [m] = await receive(queueUrl);
    await expect(sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 43_201 }))).rejects.toMatchObject({
      name: 'InvalidParameterValue',
    });
  });
});

describe('queue attributes', () => {
  it('sets attributes, returns only those asked for, and lists queues by prefix', async () => {
    const { queueUrl, dlqUrl } = await queuePair(5);
    await sqs.send(new SetQueueAttributesCommand({ QueueUrl: queueUrl, Attributes: { VisibilityTimeout: '60' } }));
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['VisibilityTimeout'] }));
    expect(Attributes).toEqual({ VisibilityTimeout: '60' });
    const name = queueUrl.split('/').pop()!;
    expect((await sqs.send(new ListQueuesCommand({ QueueNamePrefix: name }))).QueueUrls?.sort()).toEqual([queueUrl, dlqUrl].sort());
  });

  it('refuses a RedrivePolicy that is not JSON, and the queue keeps working', async () => {
    const queueUrl = await queue();
    await expect(sqs.send(new SetQueueAttributesCommand({ QueueUrl: queueUrl, Attributes: { RedrivePolicy: 'not json' } }))).rejects.toMatchObject({ name: 'InvalidAttributeValue' });
    await send(queueUrl, 'still fine');
    expect((await receive(queueUrl)).map((m) => m.Body)).toEqual(['still fine']);
  });

  it('refuses a RedrivePolicy naming a queue that does not exist', async () => {
    const deadLetterTargetArn = 'arn:aws:sqs:us-east-1:000000000000:no-such-dlq';
    await expect(
      sqs.send(new CreateQueueCommand({ QueueName: `orphan${++counter}`, Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn, maxReceiveCount: 3 }) } })),
    ).rejects.toMatchObject({ name: 'InvalidAttributeValue', message: expect.stringMatching(/does not exist/) });
    expect((await sqs.send(new ListQueuesCommand({ QueueNamePrefix: `orphan${counter}` }))).QueueUrls).toBeUndefined();
  });

  it.each([
    ['maxReceiveCount 0', 0],
    ['maxReceiveCount 1001', 1001],
  ])('refuses a RedrivePolicy with %s', async (_, maxReceiveCount) => {
    const dlqArn = await arnOf(await queue());
    const queueUrl = await queue();
    await expect(sqs.send(new SetQueueAttributesCommand({ QueueUrl: queueUrl, Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount }) } }))).rejects.toMatchObject({
      name: 'InvalidAttributeValue',
    });
  });

  it.each([
    ['VisibilityTimeout', '43201'],
    ['VisibilityTimeout', '-1'],
    ['VisibilityTimeout', '30.5'],
    ['MaximumMessageSize', '1048577'],
    ['MaximumMessageSize', '1023'],
    ['MessageRetentionPeriod', '59'],
    ['MessageRetentionPeriod', '1209601'],
    ['DelaySeconds', '901'],
    ['ReceiveMessageWaitTimeSeconds', '21'],
  ])('refuses %s = %s (InvalidAttributeValue) and keeps the old value', async (name, value) => {
    const queueUrl = await queue();
    const before = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: [name as 'VisibilityTimeout'] }))).Attributes;
    await expect(sqs.send(new SetQueueAttributesCommand({ QueueUrl: queueUrl, Attributes: { [name]: value } }))).rejects.toMatchObject({ name: 'InvalidAttributeValue' });
    expect((await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: [name as 'VisibilityTimeout'] }))).Attributes).toEqual(before);
  });

  it('refuses a misspelled attribute name (InvalidAttributeName), on create and on set', async () => {
    await expect(sqs.send(new CreateQueueCommand({ QueueName: `typo${++counter}`, Attributes: { VisibilityTimeOut: '30' } as Record<string, string> }))).rejects.toMatchObject({
      name: 'InvalidAttributeName',
    });
    const queueUrl = await queue();
    await expect(sqs.send(new SetQueueAttributesCommand({ QueueUrl: queueUrl, Attributes: { MaxMessageSize: '2048' } as Record<string, string> }))).rejects.toMatchObject({
      name: 'InvalidAttributeName',
    });
    await expect(sqs.send(new SetQueueAttributesCommand({ QueueUrl: queueUrl, Attributes: { QueueArn: 'arn:aws:sqs:us-east-1:000000000000:x' } as Record<string, string> }))).rejects.toMatchObject({
      name: 'InvalidAttributeName',
    });
  });

  it('removes the RedrivePolicy when it is set to an empty string', async () => {
    const { queueUrl } = await queuePair(1);
    await sqs.send(new SetQueueAttributesCommand({ QueueUrl: queueUrl, Attributes: { RedrivePolicy: '' } }));
    await send(queueUrl, 'stays');
    for (let i = 0; i < 3; i++) {
      const [m] = await receive(queueUrl);
      expect(m.Attributes?.ApproximateReceiveCount).toBe(String(i + 1));
      await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 }));
    }
  });

  it('refuses a RedrivePolicy the DLQ does not allow (RedriveAllowPolicy denyAll)', async () => {
    const dlqUrl = await queue({ RedriveAllowPolicy: JSON.stringify({ redrivePermission: 'denyAll' }) });
    const dlqArn = await arnOf(dlqUrl);
    await expect(
      sqs.send(new CreateQueueCommand({ QueueName: `denied${++counter}`, Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 3 }) } })),
    ).rejects.toMatchObject({ name: 'InvalidAttributeValue' });
  });

  it('answers QueueDoesNotExist as the SDK expects', async () => {
    await expect(sqs.send(new GetQueueUrlCommand({ QueueName: 'nope' }))).rejects.toBeInstanceOf(QueueDoesNotExist);
  });

  it('allows one PurgeQueue per queue every 60 seconds (PurgeQueueInProgress)', async () => {
    await withClock(async ({ client, advance }) => {
      const queueUrl = await queue({}, client);
      await client.send(new PurgeQueueCommand({ QueueUrl: queueUrl }));
      await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'after purge' }));
      await expect(client.send(new PurgeQueueCommand({ QueueUrl: queueUrl }))).rejects.toMatchObject({ name: 'PurgeQueueInProgress' });
      expect(await depth(queueUrl, client)).toEqual({ visible: 1, inFlight: 0 });
      advance(60_000);
      await client.send(new PurgeQueueCommand({ QueueUrl: queueUrl }));
      expect(await depth(queueUrl, client)).toEqual({ visible: 0, inFlight: 0 });
    });
  });

  it('refuses to recreate a queue within 60 seconds of deleting it (QueueDeletedRecently)', async () => {
    await withClock(async ({ client, advance }) => {
      const queueUrl = await queue({}, client);
      const QueueName = queueUrl.split('/').pop()!;
      await client.send(new DeleteQueueCommand({ QueueUrl: queueUrl }));
      await expect(client.send(new CreateQueueCommand({ QueueName }))).rejects.toMatchObject({ name: 'QueueDeletedRecently' });
      advance(60_000);
      expect((await client.send(new CreateQueueCommand({ QueueName }))).QueueUrl).toBe(queueUrl);
    });
  });
});

describe('dead-letter queue and redrive', () => {
  it('dead-letters after maxReceiveCount receives, keeping MessageId, SentTimestamp and the receive count', async () => {
    const pair = await queuePair(2);
    const { MessageId } = await send(pair.queueUrl, 'poison');
    const [first] = await receive(pair.queueUrl, { VisibilityTimeout: 0 });
    await receive(pair.queueUrl, { VisibilityTimeout: 0 });
    expect(await receive(pair.queueUrl)).toHaveLength(0);
    const [dead] = await receive(pair.dlqUrl);
    expect(dead).toMatchObject({ MessageId, Body: 'poison' });
    expect(dead.Attributes).toMatchObject({ SentTimestamp: first.Attributes!.SentTimestamp, ApproximateReceiveCount: '3', DeadLetterQueueSourceArn: pair.queueArn });
  });

  it('redrives asynchronously: the task is RUNNING first, then COMPLETED, and brings the message back', async () => {
    const pair = await queuePair(2);
    await deadLetter(pair, 'poison');
    const { TaskHandle } = await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: pair.dlqArn }));
    const { Results: [running] = [] } = await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: pair.dlqArn }));
    expect(running).toMatchObject({ TaskHandle, Status: 'RUNNING', ApproximateNumberOfMessagesToMove: 1 });
    await eventually(async () => (await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: pair.dlqArn }))).Results?.[0].Status === 'COMPLETED');
    const { Results: [done] = [] } = await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: pair.dlqArn }));
    expect(done).toMatchObject({ Status: 'COMPLETED', ApproximateNumberOfMessagesMoved: 1 });
    expect(done.TaskHandle).toBeUndefined(); // only RUNNING tasks carry their handle
    expect((await receive(pair.queueUrl)).map((m) => m.Body)).toEqual(['poison']);
    expect(await depth(pair.dlqUrl)).toEqual({ visible: 0, inFlight: 0 });
  });

  it('redrives a message as a new message: new MessageId, new SentTimestamp, receive count from zero', async () => {
    const pair = await queuePair(2);
    await deadLetter(pair, 'poison');
    const [dead] = await receive(pair.dlqUrl, { VisibilityTimeout: 0 });
    await new Promise((resolve) => setTimeout(resolve, 5));
    await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: pair.dlqArn }));
    await eventually(async () => (await depth(pair.queueUrl)).visible === 1);
    const [back] = await receive(pair.queueUrl);
    expect(back.Body).toBe('poison');
    expect(back.MessageId).not.toBe(dead.MessageId);
    expect(Number(back.Attributes!.SentTimestamp)).toBeGreaterThan(Number(dead.Attributes!.SentTimestamp));
    expect(back.Attributes).toMatchObject({ ApproximateReceiveCount: '1' });
    expect(back.Attributes?.DeadLetterQueueSourceArn).toBeUndefined();
  });

  it('restarts retention for a redriven message, while dead-lettering keeps the first enqueue time', async () => {
    await withClock(async ({ client, advance }) => {
      const dlqUrl = (await client.send(new CreateQueueCommand({ QueueName: 'retention-dlq', Attributes: { MessageRetentionPeriod: '120' } }))).QueueUrl!;
      const dlqArn = await arnOf(dlqUrl, client);
      const queueUrl = (
        await client.send(new CreateQueueCommand({ QueueName: 'retention', Attributes: { MessageRetentionPeriod: '120', RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 1 }) } }))
      ).QueueUrl!;
      await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'old' }));
      await receive(queueUrl, { VisibilityTimeout: 0 }, client);
      advance(100_000);
      expect(await receive(queueUrl, {}, client)).toHaveLength(0); // now dead-lettered, 100 s old
      await client.send(new StartMessageMoveTaskCommand({ SourceArn: dlqArn }));
      await eventually(async () => (await depth(queueUrl, client)).visible === 1);
      advance(100_000); // 200 s after the first send: the redriven copy is only 100 s old
      expect((await receive(queueUrl, {}, client)).map((m) => m.Body)).toEqual(['old']);
    });
  });

  it('refuses a move task from a queue that is not a DLQ', async () => {
    const { queueArn } = await queuePair();
    await expect(sqs.send(new StartMessageMoveTaskCommand({ SourceArn: queueArn }))).rejects.toThrow(/Dead Letter Queue/);
  });

  it('answers ResourceNotFoundException for move tasks of a queue that does not exist', async () => {
    const SourceArn = 'arn:aws:sqs:us-east-1:000000000000:no-such-queue';
    await expect(sqs.send(new ListMessageMoveTasksCommand({ SourceArn }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    await expect(sqs.send(new StartMessageMoveTaskCommand({ SourceArn }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  });

  it('refuses MaxNumberOfMessagesPerSecond above 500 and MaxResults above 10', async () => {
    const pair = await queuePair();
    await expect(sqs.send(new StartMessageMoveTaskCommand({ SourceArn: pair.dlqArn, MaxNumberOfMessagesPerSecond: 501 }))).rejects.toMatchObject({ name: 'InvalidParameterValue' });
    await expect(sqs.send(new ListMessageMoveTasksCommand({ SourceArn: pair.dlqArn, MaxResults: 11 }))).rejects.toMatchObject({ name: 'InvalidParameterValue' });
  });
});

describe('move tasks that stay RUNNING (moveTaskMessagesPerSecond: 0)', () => {
  let paused: SqsEmulator;
  let client: SQSClient;
  beforeAll(async () => {
    paused = await startSqsEmulator({ moveTaskMessagesPerSecond: 0 });
    client = clientFor(paused);
  });
  afterAll(async () => {
    client.destroy();
    await paused.close();
  });

  it('allows only one active task per source queue (UnsupportedOperation)', async () => {
    const pair = await queuePair(1, 30, client);
    await deadLetter(pair, 'poison', 1, client);
    await client.send(new StartMessageMoveTaskCommand({ SourceArn: pair.dlqArn }));
    await expect(client.send(new StartMessageMoveTaskCommand({ SourceArn: pair.dlqArn }))).rejects.toMatchObject({ name: 'UnsupportedOperation' });
    const { Results = [] } = await client.send(new ListMessageMoveTasksCommand({ SourceArn: pair.dlqArn, MaxResults: 10 }));
    expect(Results.map((t) => t.Status)).toEqual(['RUNNING']);
    expect(await depth(pair.dlqUrl, client)).toEqual({ visible: 1, inFlight: 0 });
  });

  it('cancels a RUNNING task: nothing more moves, and a second cancel is refused', async () => {
    const pair = await queuePair(1, 30, client);
    await deadLetter(pair, 'poison', 1, client);
    const { TaskHandle } = await client.send(new StartMessageMoveTaskCommand({ SourceArn: pair.dlqArn }));
    expect(await client.send(new CancelMessageMoveTaskCommand({ TaskHandle }))).toMatchObject({ ApproximateNumberOfMessagesMoved: 0 });
    const { Results: [task] = [] } = await client.send(new ListMessageMoveTasksCommand({ SourceArn: pair.dlqArn }));
    expect(task).toMatchObject({ Status: 'CANCELLED', ApproximateNumberOfMessagesMoved: 0 });
    await expect(client.send(new CancelMessageMoveTaskCommand({ TaskHandle }))).rejects.toMatchObject({ name: 'UnsupportedOperation' });
    await expect(client.send(new CancelMessageMoveTaskCommand({ TaskHandle: 'bm9wZQ==' }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    expect(await depth(pair.dlqUrl, client)).toEqual({ visible: 1, inFlight: 0 });
    expect(await depth(pair.queueUrl, client)).toEqual({ visible: 0, inFlight: 0 });
  });
});

describe('the hard way on demand', () => {
  it("shortPolls 'sampled': a short poll can come back empty from a queue that is not; a long poll sees everything", async () => {
    const own = await startSqsEmulator({ shortPolls: 'sampled', random: () => 0.99 });
    const client = clientFor(own);
    try {
      const queueUrl = await queue({}, client);
      await client.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: [{ Id: 'a', MessageBody: 'a' }, { Id: 'b', MessageBody: 'b' }] }));
      expect(await receive(queueUrl, { WaitTimeSeconds: 0 }, client)).toHaveLength(0);
      expect(await depth(queueUrl, client)).toEqual({ visible: 2, inFlight: 0 });
      expect((await receive(queueUrl, { WaitTimeSeconds: 1 }, client)).map((m) => m.Body).sort()).toEqual(['a', 'b']);
    } finally {
      client.destroy();
      await own.close();
    }
  });

  it("shortPolls 'sampled': one short poll returns a subset, repeated short polls reach every message", async () => {
    let draws = 0;
    const own = await startSqsEmulator({ shortPolls: 'sampled', random: () => (draws++ % 2 === 0 ? 0.1 : 0.9) });
    const client = clientFor(own);
    try {
      const queueUrl = await queue({}, client);
      await client.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: Array.from({ length: 4 }, (_, i) => ({ Id: `m${i}`, MessageBody: `m${i}` })) }));
      const first = await receive(queueUrl, { VisibilityTimeout: 60 }, client);
      expect(first).toHaveLength(2);
      const seen = new Set(first.map((m) => m.Body));
      for (let i = 0; i < 10 && seen.size < 4; i++) for (const m of await receive(queueUrl, { VisibilityTimeout: 60 }, client)) seen.add(m.Body);
      expect(seen).toEqual(new Set(['m0', 'm1', 'm2', 'm3']));
    } finally {
      client.destroy();
      await own.close();
    }
  });

  it.each([
    ['ignored', { visible: 0, inFlight: 1 }],
    ['deletes', { visible: 0, inFlight: 0 }],
  ] as const)("staleReceiptHandles '%s': DeleteMessage with a superseded handle succeeds, and the message is left accordingly", async (staleReceiptHandles, left) => {
    const own = await startSqsEmulator({ staleReceiptHandles });
    const client = clientFor(own);
    try {
      const queueUrl = await queue({}, client);
      await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'x' }));
      const [first] = await receive(queueUrl, { VisibilityTimeout: 0 }, client);
      await receive(queueUrl, {}, client); // a second consumer now holds it
      await client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: first.ReceiptHandle }));
      expect(await depth(queueUrl, client)).toEqual(left);
    } finally {
      client.destroy();
      await own.close();
    }
  });
});
