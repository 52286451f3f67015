import type { Node } from 'constructs';

export interface Throttle {
  /** Steady-state requests per second. */
  readonly rateLimit: number;
  /** Requests allowed in a burst. */
  readonly burstLimit: number;
}

/** Everything a deployment can choose, read from CDK context (`-c key=value` or cdk.json). */
export interface PaymentsStackConfig {
  /** dev or prod; prod keeps logs a year, logs at INFO and protects tables from deletion. @default 'dev' */
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
  /** Stage-wide API throttling. @default 100 rps, burst 200 */
  readonly apiThrottle: Throttle;
  /** Throttling of the Stripe webhook route alone. @default 50 rps, burst 100 */
  readonly webhookThrottle: Throttle;
  /** Put an AWS WAF web ACL (rate limit per IP, body size, known bad inputs) in front of the API. @default false */
  readonly enableWaf: boolean;
  /** WAF: requests per IP per 5 minutes before blocking. @default 2000 */
  readonly wafRequestsPerIpPer5Minutes: number;
  /** Encrypt tables, queues and the alarm topic with a customer-managed KMS key. @default false (AWS-owned keys) */
  readonly kmsEncryption: boolean;
  /** Email address subscribed to the alarm topic. @default none */
  readonly alarmEmail?: string;
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
  const alarmEmail = node.tryGetContext('alarmEmail');
  if (alarmEmail !== undefined && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(alarmEmail)) throw new Error(`Context alarmEmail is not an email address: ${alarmEmail}`);
  return {
    stage,
    stripeSecretName: node.tryGetContext('stripeSecretName') ?? 'payments/stripe',
    cognitoUserPoolArn,
    removeTablesOnDelete: flag(node, 'removeTablesOnDelete', false),
    checkoutIdempotencyTtlSeconds: positiveInt(node, 'checkoutIdempotencyTtlSeconds', 86_400),
    refundIdempotencyTtlSeconds: positiveInt(node, 'refundIdempotencyTtlSeconds', 86_400),
    stripeEventIdempotencyTtlSeconds: positiveInt(node, 'stripeEventIdempotencyTtlSeconds', 7 * 86_400),
    maxReceiveCount: positiveInt(node, 'maxReceiveCount', 5),
    apiThrottle: { rateLimit: positiveInt(node, 'apiThrottleRateLimit', 100), burstLimit: positiveInt(node, 'apiThrottleBurstLimit', 200) },
    webhookThrottle: { rateLimit: positiveInt(node, 'webhookThrottleRateLimit', 50), burstLimit: positiveInt(node, 'webhookThrottleBurstLimit', 100) },
    enableWaf: flag(node, 'enableWaf', false),
    wafRequestsPerIpPer5Minutes: positiveInt(node, 'wafRequestsPerIpPer5Minutes', 2000),
    kmsEncryption: flag(node, 'kmsEncryption', false),
    alarmEmail,
  };
}
