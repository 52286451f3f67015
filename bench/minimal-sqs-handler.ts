import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';

/** The yardstick for bundle size and cold import: the smallest useful SQS-sending handler. */
const sqs = new SQSClient({});

export const handler = async (event: { body?: string }) => {
  await sqs.send(new SendMessageCommand({ QueueUrl: process.env.EVENTS_QUEUE_URL, MessageBody: event.body ?? '{}' }));
  return { statusCode: 200, body: '{"received":true}' };
};
