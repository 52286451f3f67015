import type { Node } from 'constructs';

/** Everything a deployment can choose, read from CDK context (`-c key=value` or cdk.json). */
export interface PaymentsStackConfig {
  /** dev or prod; prod keeps logs longer and protects tables from deletion. @default 'dev' */
  readonly stage: 'dev' | 'prod';
  /** Secrets Manager secret holding `{"apiKey": "sk_…", "webhookSigningSecret": "whsec_…"}`. @default 'payments/stripe' */
  readonly stripeSecretName: string;
  /** Use this existing Cognito user pool; otherwise the stack creates one. */
  readonly cognitoUserPoolArn?: string;
  /** Remove the tables on stack delete (for throwaway stacks). @default false: tables are retained */
  readonly removeTablesOnDelete: boolean;
  /** How long a checkout result is replayed. @default 86400 */
  readonly checkoutIdempotencyTtlSeconds: number;
  /** How long a refund result is replayed. @default 86400 */
  readonly refundIdempotencyTtlSeconds: number;
  /** How long a processed Stripe event id is remembered; longer than Stripe's 3-day retries. @default 604800 */
  readonly stripeEventIdempotencyTtlSeconds: number;
  /** Receives before an event message moves to the DLQ. @default 5 */
  readonly maxReceiveCount: number;
}

const STAGES = ['dev', 'prod'] as const;

function positiveInt(node: Node, key: string, fallback: number): number {
  const raw = node.tryGetContext(key);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`Context ${key} must be a positive integer, got ${JSON.stringify(raw)}`);
  return value;
}

function flag(node: Node, key: string, fallback: boolean): boolean {
  const raw = node.tryGetContext(key);
  if (raw === undefined) return fallback;
  if (raw === true || raw === 'true') return true;
  if (raw === false || raw === 'false') return false;
  throw new Error(`Context ${key} must be true or false, got ${JSON.stringify(raw)}`);
}

export function configFromContext(node: Node): PaymentsStackConfig {
  const stage = node.tryGetContext('stage') ?? 'dev';
  if (!STAGES.includes(stage)) throw new Error(`Context stage must be one of ${STAGES.join(', ')}, got ${JSON.stringify(stage)}`);
  const cognitoUserPoolArn = node.tryGetContext('cognitoUserPoolArn');
  if (cognitoUserPoolArn !== undefined && !/^arn:aws[\w-]*:cognito-idp:[\w-]+:\d{12}:userpool\/[\w-]+$/.test(cognitoUserPoolArn)) {
    throw new Error(`Context cognitoUserPoolArn is not a user pool ARN: ${cognitoUserPoolArn}`);
  }
  return {
    stage,
    stripeSecretName: node.tryGetContext('stripeSecretName') ?? 'payments/stripe',
    cognitoUserPoolArn,
    removeTablesOnDelete: flag(node, 'removeTablesOnDelete', false),
    checkoutIdempotencyTtlSeconds: positiveInt(node, 'checkoutIdempotencyTtlSeconds', 86_400),
    refundIdempotencyTtlSeconds: positiveInt(node, 'refundIdempotencyTtlSeconds', 86_400),
    stripeEventIdempotencyTtlSeconds: positiveInt(node, 'stripeEventIdempotencyTtlSeconds', 7 * 86_400),
    maxReceiveCount: positiveInt(node, 'maxReceiveCount', 5),
  };
}
