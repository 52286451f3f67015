import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import * as path from 'node:path';

export interface PaymentsFunctionProps {
  /** Folder under lambdas/ holding handler.ts. */
  readonly handlerFolder: string;
  /** Plain configuration only: names and numbers, never a secret value. */
  readonly environment?: Record<string, string>;
  /** @default Duration.seconds(10) */
  readonly timeout?: Duration;
  /** @default 512 */
  readonly memorySize?: number;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /** Powertools log level. @default 'INFO' */
  readonly logLevel?: string;
  /** Reserved concurrency (also its ceiling). @default none: the account's unreserved pool */
  readonly reservedConcurrentExecutions?: number;
}

/**
 * Every function of the stack: Node.js 22 on arm64, bundled by esbuild as minified ESM with
 * source maps, X-Ray tracing, an explicit log group (retention is ours, not "forever") and a
 * role of its own that may write to that log group only — no AWS managed policy.
 */
export class PaymentsFunction extends NodejsFunction {
  readonly logGroupResource: LogGroup;

  constructor(scope: Construct, id: string, props: PaymentsFunctionProps) {
    const logGroup = new LogGroup(scope, `${id}Logs`, {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const role = new Role(scope, `${id}Role`, {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Runs lambdas/${props.handlerFolder}`,
    });
    logGroup.grantWrite(role);
    super(scope, id, {
      entry: path.join(__dirname, '..', '..', 'lambdas', props.handlerFolder, 'handler.ts'),
      handler: 'handler',
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(10),
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      tracing: Tracing.ACTIVE,
      logGroup,
      role,
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: serviceName(props.handlerFolder),
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        POWERTOOLS_LOG_LEVEL: props.logLevel ?? 'INFO',
        ...props.environment,
      },
      bundling: {
        format: OutputFormat.ESM,
        target: 'node22',
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        mainFields: ['module', 'main'],
        // Bundle the AWS SDK too: the version we tested is the version that runs.
        externalModules: [],
        banner: ESM_REQUIRE_BANNER,
      },
    });
    this.logGroupResource = logGroup;
  }
}

/** Some CommonJS dependencies call require(); ESM output gets one. Shared with bench/run.ts. */
export const ESM_REQUIRE_BANNER = "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);";

/** CloudWatch namespace of the handlers' EMF metrics; their `service` dimension is serviceName(). */
export const METRICS_NAMESPACE = 'Payments';
export const serviceName = (handlerFolder: string) => `payments-${handlerFolder}`;
