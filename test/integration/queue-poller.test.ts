import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { LOCAL_CREDENTIALS } from '../../local/dynamodb';
import { QueuePoller } from '../../local/queue-poller';
import { startSqsEmulator, type SqsEmulator } from '../../local/sqs-emulator/server';

// The local event source mapping against the strict emulator: empty receives (no Messages list),
// validated receipt handles in its DeleteMessageBatch, failures left to the redrive policy.
let emulator: SqsEmulator;
let sqs: SQSClient;

beforeAll(async () => {
  emulator = await startSqsEmulator();
  sqs = new SQSClient({ endpoint: emulator.url, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
});
afterAll(async () => {
  sqs.destroy();
  await emulator.close();
});

const arnOf = async (QueueUrl: string) => (await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
const total = async (QueueUrl: string) => {
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
  return Number(Attributes!.ApproximateNumberOfMessages) + Number(Attributes!.ApproximateNumberOfMessagesNotVisible);
};

it('deletes what the handler processed, and lets reported failures reach the DLQ after maxReceiveCount', async () => {
  const dlqUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'poller-dlq' }))).QueueUrl!;
  const queueUrl = (
    await sqs.send(new CreateQueueCommand({ QueueName: 'poller', Attributes: { VisibilityTimeout: '1', RedrivePolicy: JSON.stringify({ deadLetterTargetArn: await arnOf(dlqUrl), maxReceiveCount: 2 }) } }))
  ).QueueUrl!;
  const calls = new Map<string, number>();
  const handler = async (event: SQSEvent) => {
    for (const r of event.Records) calls.set(r.body, (calls.get(r.body) ?? 0) + 1);
    return { batchItemFailures: event.Records.filter((r) => r.body === 'poison').map((r) => ({ itemIdentifier: r.messageId })) };
  };
  const poller = new QueuePoller({ sqs, queueUrl, queueArn: await arnOf(queueUrl), handler, concurrency: 2 });
  const errors = jest.spyOn(console, 'error');
  poller.start();
  try {
    await new Promise((resolve) => setTimeout(resolve, 1200)); // a few empty long polls first
    await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: ['a', 'b', 'c', 'poison'].map((body) => ({ Id: body, MessageBody: body })) }));
    const deadline = Date.now() + 10_000;
    while ((await total(dlqUrl)) < 1 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  } finally {
    await poller.stop();
  }
  expect(Object.fromEntries(calls)).toEqual({ a: 1, b: 1, c: 1, poison: 2 });
  expect(await total(queueUrl)).toBe(0);
  const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: 10 }));
  expect(Messages.map((m) => m.Body)).toEqual(['poison']);
  expect(errors).not.toHaveBeenCalled();
  errors.mockRestore();
}, 20_000);
