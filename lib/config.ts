import type { Node } from 'constructs';
import { validAllowedOrigins } from '../lambdas/shared/cors';

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
  /** Secret holding `{"apiKey": "sk_…"}`, read by checkout and refunds only. @default 'payments/<stage>/stripe-api-key' */
  readonly stripeApiKeySecretName: string;
  /**
   * Secret holding `{"signingSecrets": ["whsec_…"]}`, read by the webhook receiver only. Per stage:
   * each Stripe webhook endpoint has its own signing secret. @default 'payments/<stage>/stripe-webhook'
   */
  readonly stripeWebhookSecretName: string;
  /** Use this existing Cognito user pool; otherwise the stack creates one. */
  readonly cognitoUserPoolArn?: string;
  /** App clients of that existing pool whose ID tokens the API accepts (required with cognitoUserPoolArn). */
  readonly cognitoAppClientIds: string[];
  /** Remove the tables on stack delete (for throwaway dev stacks; refused for prod). @default false: tables are retained */
  readonly removeTablesOnDelete: boolean;
  /** How long a checkout result is replayed. @default 86400 */
  readonly checkoutIdempotencyTtlSeconds: number;
  /** How long a refund result is replayed. @default 86400 */
  readonly refundIdempotencyTtlSeconds: number;
  /** How long a processed Stripe event id is remembered; longer than Stripe's 3-day retries. @default 604800 */
  readonly stripeEventIdempotencyTtlSeconds: number;
  /** Receives before an event message moves to the DLQ. @default 5 */
  readonly maxReceiveCount: number;
  /** Most concurrent processor invocations the queue may start (SQS event source MaximumConcurrency, 2-1000). @default 5 */
  readonly processorMaxConcurrency: number;
  /** Reserved concurrency of the processor, so a storm cannot take the account's whole pool. @default none */
  readonly processorReservedConcurrency?: number;
  /** Stage-wide API throttling. @default 100 rps, burst 200 */
  readonly apiThrottle: Throttle;
  /** Throttling of the Stripe webhook route alone. @default 50 rps, burst 100 */
  readonly webhookThrottle: Throttle;
  /** Put an AWS WAF web ACL (rate limit per IP, body size, known bad inputs) in front of the API. @default false */
  readonly enableWaf: boolean;
  /** WAF: requests per IP per 5 minutes before blocking (the webhook route is exempt). @default 2000 */
  readonly wafRequestsPerIpPer5Minutes: number;
  /** WAF: let only these CIDRs (Stripe's published webhook IPs) call the webhook route. @default any address */
  readonly stripeWebhookCidrs: string[];
  /** Encrypt tables, queues and the alarm topic with a customer-managed KMS key. @default false (AWS-owned keys) */
  readonly kmsEncryption: boolean;
  /** Email address subscribed to the alarm topic. @default none */
  readonly alarmEmail?: string;
  /** Alarm when no webhook arrived for this many hours (for accounts with steady traffic). @default no such alarm */
  readonly noWebhooksAlarmHours?: number;
  /**
   * Create API Gateway's account-level CloudWatch role (one per account and region, needed for
   * access and execution logs). Off by default: it replaces whatever role the account has set.
   * @default false
   */
  readonly apiGatewayCloudWatchRole: boolean;
  /**
   * Origins of the web apps that may call the API from a browser (CORS): exact origins such as
   * `https://shop.example.com`, never `*`. @default [] no CORS at all: browsers on other origins are refused
   */
  readonly corsAllowedOrigins: string[];
}

const STAGES = ['dev', 'prod'] as const;

/** Every context key this app reads; any other (a typo like `enableWAF`) fails synth. */
export const CONTEXT_KEYS = [
  'stage', 'stackName', 'stripeApiKeySecretName', 'stripeWebhookSecretName', 'cognitoUserPoolArn', 'cognitoAppClientIds',
  'removeTablesOnDelete', 'checkoutIdempotencyTtlSeconds', 'refundIdempotencyTtlSeconds', 'stripeEventIdempotencyTtlSeconds',
  'maxReceiveCount', 'processorMaxConcurrency', 'processorReservedConcurrency', 'apiThrottleRateLimit', 'apiThrottleBurstLimit',
  'webhookThrottleRateLimit', 'webhookThrottleBurstLimit', 'enableWaf', 'wafRequestsPerIpPer5Minutes', 'stripeWebhookCidrs',
  'kmsEncryption', 'alarmEmail', 'noWebhooksAlarmHours', 'apiGatewayCloudWatchRole', 'corsAllowedOrigins',
] as const;

/** The CDK CLI's own keys (`aws:cdk:*`), feature flags (`@aws-cdk/…:…`) and cached lookups all contain a colon. */
const isCdkOwnKey = (key: string) => key.includes(':') || key === 'acknowledged-issue-numbers';

function positiveInt(node: Node, key: string, fallback: number): number;
function positiveInt(node: Node, key: string, fallback?: number): number | undefined;
function positiveInt(node: Node, key: string, fallback?: number): number | undefined {
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

/**
 * A comma-separated string (from -c) or a JSON array (from cdk.json), each item matching `pattern`.
 * An empty value is refused unless `emptyMeansNone`: for most keys an emptied list more likely
 * means a mistake than "none" (an empty stripeWebhookCidrs would silently let any address in).
 */
function listFrom(raw: unknown, source: string, pattern: RegExp, what: string, emptyMeansNone = false): string[] {
  if (raw === undefined) return [];
  const items = (Array.isArray(raw) ? raw : String(raw).split(',')).map((item) => String(item).trim()).filter(Boolean);
  const bad = items.find((item) => !pattern.test(item));
  if (bad !== undefined || (items.length === 0 && !emptyMeansNone)) throw new Error(`${source} must be a comma-separated list of ${what}, got ${JSON.stringify(raw)}`);
  return items;
}
const list = (node: Node, key: string, pattern: RegExp, what: string) => listFrom(node.tryGetContext(key), `Context ${key}`, pattern, what);

/**
 * The value of context corsAllowedOrigins (a -c string or a cdk.json list), checked. The stack
 * and `npm start` (local/cors-origins.ts, from cdk.json or CORS_ALLOWED_ORIGINS) both read it
 * here. `[]` or an empty string means none, as an absent key does: emptying the list in cdk.json
 * is how CORS is turned off.
 */
export function corsAllowedOriginsFrom(raw: unknown, source = 'Context corsAllowedOrigins'): string[] {
  return validAllowedOrigins(listFrom(raw, source, /^\S+$/, 'origins (e.g. https://shop.example.com)', true), source);
}

export function configFromContext(node: Node): PaymentsStackConfig {
  const unknown = Object.keys(node.getAllContext()).filter((key) => !isCdkOwnKey(key) && !(CONTEXT_KEYS as readonly string[]).includes(key));
  if (unknown.length > 0) {
    const hint = (key: string) => CONTEXT_KEYS.find((known) => known.toLowerCase() === key.toLowerCase());
    const described = unknown.map((key) => (hint(key) ? `${key} (did you mean ${hint(key)}?)` : key)).join(', ');
    throw new Error(`Unknown context key(s): ${described}. Known keys: ${CONTEXT_KEYS.join(', ')} (see lib/config.ts).`);
  }
  const stage = node.tryGetContext('stage') ?? 'dev';
  if (!STAGES.includes(stage)) throw new Error(`Context stage must be one of ${STAGES.join(', ')}, got ${JSON.stringify(stage)}`);
  const cognitoUserPoolArn = node.tryGetContext('cognitoUserPoolArn');
  if (cognitoUserPoolArn !== undefined && !/^arn:aws[\w-]*:cognito-idp:[\w-]+:\d{12}:userpool\/[\w-]+$/.test(cognitoUserPoolArn)) {
    throw new Error(`Context cognitoUserPoolArn is not a user pool ARN: ${cognitoUserPoolArn}`);
  }
  const cognitoAppClientIds = list(node, 'cognitoAppClientIds', /^[\w+]{1,128}$/, 'Cognito app client ids');
  if (cognitoUserPoolArn && cognitoAppClientIds.length === 0) {
    throw new Error('Context cognitoUserPoolArn needs cognitoAppClientIds: the app clients whose ID tokens the API accepts (run `npm run doctor` after deploy to check their settings)');
  }
  if (!cognitoUserPoolArn && cognitoAppClientIds.length > 0) {
    throw new Error('Context cognitoAppClientIds applies only with cognitoUserPoolArn; the stack creates its own app client otherwise');
  }
  const alarmEmail = node.tryGetContext('alarmEmail');
  if (alarmEmail !== undefined && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(alarmEmail)) throw new Error(`Context alarmEmail is not an email address: ${alarmEmail}`);
  const removeTablesOnDelete = flag(node, 'removeTablesOnDelete', false);
  if (stage === 'prod' && removeTablesOnDelete) {
    throw new Error('Context removeTablesOnDelete=true is refused for stage prod: prod tables have deletion protection, so a stack delete would fail half-way; delete prod data deliberately, outside CloudFormation');
  }
  const enableWaf = flag(node, 'enableWaf', false);
  const stripeWebhookCidrs = list(node, 'stripeWebhookCidrs', /^[\d.]+\/\d{1,2}$|^[\da-f:]+\/\d{1,3}$/i, 'CIDR blocks (e.g. 3.18.12.63/32)');
  if (stripeWebhookCidrs.length > 0 && !enableWaf) throw new Error('Context stripeWebhookCidrs takes effect through WAF: set enableWaf=true too');
  const noWebhooksAlarmHours = positiveInt(node, 'noWebhooksAlarmHours');
  // CloudWatch evaluates at most one day of data points.
  if (noWebhooksAlarmHours !== undefined && noWebhooksAlarmHours > 24) throw new Error(`Context noWebhooksAlarmHours must be 1 to 24, got ${noWebhooksAlarmHours}`);
  const processorMaxConcurrency = positiveInt(node, 'processorMaxConcurrency', 5);
  if (processorMaxConcurrency < 2 || processorMaxConcurrency > 1000) throw new Error(`Context processorMaxConcurrency must be 2 to 1000 (an SQS event source limit), got ${processorMaxConcurrency}`);
  const stripeSecretName = (key: string, suffix: string): string => {
    const name = node.tryGetContext(key) ?? `payments/${stage}/${suffix}`;
    if (!/^[\w/+=.@-]{1,512}$/.test(name)) throw new Error(`Context ${key} is not a Secrets Manager secret name: ${JSON.stringify(name)}`);
    return name;
  };
  const config: PaymentsStackConfig = {
    stage,
    stripeApiKeySecretName: stripeSecretName('stripeApiKeySecretName', 'stripe-api-key'),
    stripeWebhookSecretName: stripeSecretName('stripeWebhookSecretName', 'stripe-webhook'),
    cognitoUserPoolArn,
    cognitoAppClientIds,
    removeTablesOnDelete,
    checkoutIdempotencyTtlSeconds: positiveInt(node, 'checkoutIdempotencyTtlSeconds', 86_400),
    refundIdempotencyTtlSeconds: positiveInt(node, 'refundIdempotencyTtlSeconds', 86_400),
    stripeEventIdempotencyTtlSeconds: positiveInt(node, 'stripeEventIdempotencyTtlSeconds', 7 * 86_400),
    maxReceiveCount: positiveInt(node, 'maxReceiveCount', 5),
    processorMaxConcurrency,
    processorReservedConcurrency: positiveInt(node, 'processorReservedConcurrency'),
    apiThrottle: { rateLimit: positiveInt(node, 'apiThrottleRateLimit', 100), burstLimit: positiveInt(node, 'apiThrottleBurstLimit', 200) },
    webhookThrottle: { rateLimit: positiveInt(node, 'webhookThrottleRateLimit', 50), burstLimit: positiveInt(node, 'webhookThrottleBurstLimit', 100) },
    enableWaf,
    wafRequestsPerIpPer5Minutes: positiveInt(node, 'wafRequestsPerIpPer5Minutes', 2000),
    stripeWebhookCidrs,
    kmsEncryption: flag(node, 'kmsEncryption', false),
    alarmEmail,
    noWebhooksAlarmHours,
    apiGatewayCloudWatchRole: flag(node, 'apiGatewayCloudWatchRole', false),
    corsAllowedOrigins: corsAllowedOriginsFrom(node.tryGetContext('corsAllowedOrigins')),
  };
  if (config.stripeApiKeySecretName === config.stripeWebhookSecretName) {
    throw new Error('Contexts stripeApiKeySecretName and stripeWebhookSecretName name the same secret: each function must read only its own');
  }
  return config;
}
