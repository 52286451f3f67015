import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, type NodejsFunctionProps } from 'aws-cdk-lib/aws-lambda-nodejs';
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
  /** @default RemovalPolicy.DESTROY (logs of a deleted stack are kept by the retention only) */
  readonly logRemovalPolicy?: RemovalPolicy;
  /** Powertools log level. @default 'INFO' */
  readonly logLevel?: string;
  readonly reservedConcurrentExecutions?: number;
}

/**
 * Every function of the stack: Node.js 22 on arm64, bundled by esbuild as minified ESM with
 * source maps, X-Ray tracing, and an explicit log group (so retention is ours, not "forever").
 */
export class PaymentsFunction extends NodejsFunction {
  readonly logGroupResource: LogGroup;

  constructor(scope: Construct, id: string, props: PaymentsFunctionProps) {
    const logGroup = new LogGroup(scope, `${id}Logs`, {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.DESTROY,
    });
    const functionProps: NodejsFunctionProps = {
      entry: path.join(__dirname, '..', '..', 'lambdas', props.handlerFolder, 'handler.ts'),
      handler: 'handler',
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(10),
      tracing: Tracing.ACTIVE,
      logGroup,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: `payments-${props.handlerFolder}`,
        POWERTOOLS_METRICS_NAMESPACE: 'Payments',
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
        // Some CommonJS dependencies call require(); give ESM output one.
        banner: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
      },
    };
    super(scope, id, functionProps);
    this.logGroupResource = logGroup;
  }
}
