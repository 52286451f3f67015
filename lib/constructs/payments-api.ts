import { Aws, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import {
  AccessLogFormat,
  AuthorizationType,
  CognitoUserPoolsAuthorizer,
  EndpointType,
  LambdaIntegration,
  LogGroupLogDestination,
  MethodLoggingLevel,
  ResponseType,
  RestApi,
  type IResource,
  type Method,
} from 'aws-cdk-lib/aws-apigateway';
import type { IUserPool } from 'aws-cdk-lib/aws-cognito';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { CfnIPSet, CfnWebACL, CfnWebACLAssociation } from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { CORS_ALLOWED_HEADERS, CORS_EXPOSED_HEADERS, CORS_MAX_AGE_SECONDS, gatewayResponseOrigin } from '../../lambdas/shared/cors';
import { problemBody, type ProblemKind } from '../../lambdas/shared/problem';
import { problemLinkHeader } from '../../lambdas/shared/problem-links';
import type { Throttle } from '../config';
import { preflightResources, routes, type HandlerName } from '../routes';

export interface PaymentsApiProps {
  readonly handlers: Record<HandlerName, IFunction>;
  readonly userPool: IUserPool;
  readonly stageName: string;
  readonly logRetention: RetentionDays;
  /** Stage-wide throttling. */
  readonly throttle: Throttle;
  /** The webhook route's own throttling, so a flood of webhooks cannot starve checkouts (and vice versa). */
  readonly webhookThrottle: Throttle;
  /** Put an AWS WAF web ACL in front of the stage. @default undefined (no WAF) */
  readonly waf?: WafOptions;
  /**
   * Create API Gateway's account-level CloudWatch role (retained on stack delete). It replaces
   * whatever role the account and region have set, so it is a deliberate choice. @default false
   */
  readonly accountCloudWatchRole?: boolean;
  /**
   * Origins browsers may call the API from (lambdas/shared/cors.ts): a preflight on every route
   * but the webhook, and CORS headers on API Gateway's own responses. The handlers add theirs
   * from their CORS_ALLOWED_ORIGINS. @default [] no CORS
   */
  readonly corsAllowedOrigins?: readonly string[];
}

export interface WafOptions {
  /** Requests per IP per 5 minutes before blocking; the webhook route is exempt (Stripe sends from few IPs). */
  readonly requestsPerIpPer5Minutes: number;
  /** Only these CIDRs may call the webhook route (Stripe's published webhook IPs). @default [] any address */
  readonly stripeWebhookCidrs?: readonly string[];
}

/** Largest JSON body WAF lets through (the handlers refuse more than 64 KiB anyway). */
const WAF_MAX_BODY_BYTES = 64 * 1024;

/**
 * The REST API: the routes of lib/routes.ts behind a Cognito authorizer (the webhook behind its
 * signature), problem+json for every answer API Gateway gives itself, access logs, stage and
 * per-route throttling, and optional WAF. Request bodies are validated by the handlers, with code
 * generated from the OpenAPI schemas, so a 400 is the same deployed and locally.
 */
export class PaymentsApi extends Construct {
  readonly restApi: RestApi;
  readonly accessLogs: LogGroup;
  /** API Gateway's execution log group, created by us so it has a retention (API Gateway's own never expires). */
  readonly executionLogs: LogGroup;
  readonly webAcl?: CfnWebACL;

  constructor(scope: Construct, id: string, props: PaymentsApiProps) {
    super(scope, id);
    this.accessLogs = new LogGroup(this, 'AccessLogs', { retention: props.logRetention, removalPolicy: RemovalPolicy.DESTROY });
    const webhookRoute = routes.find((r) => r.handler === 'webhooks')!;
    this.restApi = new RestApi(this, 'Api', {
      restApiName: `${Stack.of(this).stackName}-api`,
      endpointTypes: [EndpointType.REGIONAL],
      // API Gateway only serves HTTPS; clients cannot downgrade.
      deployOptions: {
        stageName: props.stageName,
        tracingEnabled: true,
        metricsEnabled: true,
        loggingLevel: MethodLoggingLevel.ERROR,
        dataTraceEnabled: false, // full request logging would put bodies and tokens in the logs
        accessLogDestination: new LogGroupLogDestination(this.accessLogs),
        accessLogFormat: AccessLogFormat.jsonWithStandardFields(),
        throttlingRateLimit: props.throttle.rateLimit,
        throttlingBurstLimit: props.throttle.burstLimit,
        methodOptions: {
          [`${webhookRoute.resource}/${webhookRoute.method}`]: {
            throttlingRateLimit: props.webhookThrottle.rateLimit,
            throttlingBurstLimit: props.webhookThrottle.burstLimit,
          },
        },
      },
      cloudWatchRole: props.accountCloudWatchRole ?? false,
      ...(props.accountCloudWatchRole ? { cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN } : {}),
    });
    this.executionLogs = new LogGroup(this, 'ExecutionLogs', {
      logGroupName: `API-Gateway-Execution-Logs_${this.restApi.restApiId}/${props.stageName}`,
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Exists before the stage can log, so API Gateway never creates it without a retention.
    this.restApi.deploymentStage.node.addDependency(this.executionLogs);
    Validations.of(this.restApi).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      reason: 'The account-level role API Gateway needs to write access logs; AWS documents this managed policy as its permission set.',
    });
    const corsAllowedOrigins = props.corsAllowedOrigins ?? [];
    this.addGatewayResponses(props.stageName, corsAllowedOrigins);

    const authorizer = new CognitoUserPoolsAuthorizer(this, 'Authorizer', { cognitoUserPools: [props.userPool] });
    // No API Gateway body models: their 400 cannot name the failing fields (validationErrorString
    // is not JSON-safe), they skip bodies sent with another Content-Type, and their draft-4/Java
    // regex dialect is a third validator to keep in step. The handlers validate with the spec's
    // schemas compiled by ajv (lambdas/domain/validation.ts) and answer one 400 everywhere.
    Validations.of(this.restApi).acknowledge({
      id: 'AwsSolutions-APIG2',
      reason: 'Request bodies are validated in the handlers with code generated from the OpenAPI schemas, so every 400 lists a JSON Pointer per field, deployed and locally alike.',
    });
    for (const route of routes) {
      const resource = route.resource
        .split('/')
        .filter(Boolean)
        .reduce<IResource>((parent, part) => parent.getResource(part) ?? parent.addResource(part), this.restApi.root);
      const method: Method = resource.addMethod(route.method, new LambdaIntegration(props.handlers[route.handler]), {
        ...(route.authorized ? { authorizer, authorizationType: AuthorizationType.COGNITO } : { authorizationType: AuthorizationType.NONE }),
      });
      if (!route.authorized) {
        const reason = route.publicBecause ?? 'Unauthenticated by design.';
        Validations.of(method).acknowledge({ id: 'AwsSolutions-APIG4', reason });
        Validations.of(method).acknowledge({ id: 'AwsSolutions-COG4', reason });
      }
    }
    if (corsAllowedOrigins.length > 0) this.addPreflights(corsAllowedOrigins);

    if (props.waf) {
      this.webAcl = this.addWebAcl(props.waf, webhookRoute.resource, props.stageName);
    } else {
      Validations.of(this.restApi).acknowledge({
        id: 'AwsSolutions-APIG3',
        reason: 'WAF is opt-in (context enableWaf=true) because it is billed per request; stage and webhook throttling are always on.',
      });
    }
  }

  /**
   * OPTIONS on each resource a browser calls, answered by API Gateway itself (a mock integration,
   * no authorizer: browsers send preflights without the token). CDK's preflight echoes a listed
   * Origin (a VTL override when there are several) and otherwise names the first listed origin,
   * which the browser refuses; local/api-gateway.ts answers the same (cors.ts preflightHeaders).
   */
  private addPreflights(allowOrigins: readonly string[]) {
    for (const { resource: path, methods } of preflightResources()) {
      // cdk-nag's authorizer rules (APIG4, COG4) exempt OPTIONS methods: nothing to acknowledge.
      this.restApi.root.resourceForPath(path).addCorsPreflight({
        allowOrigins: [...allowOrigins],
        allowHeaders: [...CORS_ALLOWED_HEADERS],
        allowMethods: methods,
        maxAge: Duration.seconds(CORS_MAX_AGE_SECONDS),
        statusCode: 204,
      });
    }
  }

  /** API Gateway's own answers (401, throttling, validation...) speak problem+json too, readable by allowed origins. */
  private addGatewayResponses(stageName: string, corsAllowedOrigins: readonly string[]) {
    // Gateway responses can only carry static header values, so the link names the stage's
    // execute-api URL (the handlers compute theirs from the request, custom domains included).
    const stageUrl = `https://${this.restApi.restApiId}.execute-api.${Aws.REGION}.${Aws.URL_SUFFIX}/${stageName}`;
    // Static or the request's Origin: gateway responses have no conditions (see cors.ts gatewayResponseOrigin).
    // Accepted limitation: with several origins, every gateway response (401, 403, 404, 413, 415,
    // 429, 5xx, including OPTIONS on the webhook route) names ANY request's Origin, listed or not.
    // They hold problem documents only, no data, and no credentials mode is ever allowed.
    const origin = gatewayResponseOrigin(corsAllowedOrigins);
    const cors: Record<string, string> = origin
      ? {
          'Access-Control-Allow-Origin': 'static' in origin ? `'${origin.static}'` : `method.request.header.${origin.fromRequestHeader}`,
          'Access-Control-Expose-Headers': `'${CORS_EXPOSED_HEADERS.join(',')}'`,
          Vary: "'Origin'",
        }
      : {};
    const respond = (type: ResponseType, kind: ProblemKind, options: { status?: string; detail?: string; headers?: Record<string, string> } = {}) => {
      const { status: _status, ...body } = problemBody(kind);
      const template = JSON.stringify({ ...body, ...(options.status ? { status: Number(options.status) } : {}) }).replace(/}$/, options.detail ? `,"detail":${options.detail}}` : '}');
      this.restApi.addGatewayResponse(`${kind}${type.responseType}`, {
        type,
        statusCode: options.status,
        responseHeaders: { 'Content-Type': "'application/problem+json'", Link: `'${problemLinkHeader(stageUrl, kind)}'`, ...cors, ...options.headers },
        templates: { 'application/json': template },
      });
    };
    // Cognito's message tells an expired token ("The incoming token has expired") from a missing one.
    respond(ResponseType.UNAUTHORIZED, 'unauthorized', { status: '401', detail: '$context.error.messageString' });
    respond(ResponseType.ACCESS_DENIED, 'forbidden', { status: '403' });
    respond(ResponseType.WAF_FILTERED, 'forbidden', { status: '403' });
    // API Gateway says "Missing Authentication Token" for a path that does not exist.
    respond(ResponseType.MISSING_AUTHENTICATION_TOKEN, 'routeNotFound', { status: '404' });
    respond(ResponseType.REQUEST_TOO_LARGE, 'payloadTooLarge', { status: '413' });
    respond(ResponseType.UNSUPPORTED_MEDIA_TYPE, 'unsupportedMediaType', { status: '415' });
    respond(ResponseType.THROTTLED, 'throttled', { status: '429', headers: { 'Retry-After': "'1'" } });
    respond(ResponseType.QUOTA_EXCEEDED, 'throttled', { status: '429', headers: { 'Retry-After': "'60'" } });
    // messageString is a quoted JSON string, so it can go into a JSON body as it is.
    respond(ResponseType.DEFAULT_4XX, 'requestRejected', { detail: '$context.error.messageString' });
    respond(ResponseType.DEFAULT_5XX, 'gatewayError', { headers: { 'Retry-After': "'1'" } });
  }

  private addWebAcl(waf: WafOptions, webhookPath: string, stageName: string): CfnWebACL {
    const visibility = (metricName: string) => ({ cloudWatchMetricsEnabled: true, sampledRequestsEnabled: true, metricName });
    const none = [{ priority: 0, type: 'NONE' }];
    const webhookRequest = { byteMatchStatement: { fieldToMatch: { uriPath: {} }, positionalConstraint: 'ENDS_WITH', searchString: webhookPath, textTransformations: none } };
    // Stripe's webhooks are exempt from the rules below: Stripe sends from a few IPs (a per-IP
    // rate would block a burst of events) and bodies carry customer text (names, addresses) that
    // generic bad-input rules may match. A blocked event is retried for days, then lost.
    const notWebhook = { notStatement: { statement: webhookRequest } };
    const rules: CfnWebACL.RuleProperty[] = [];
    const cidrs = waf.stripeWebhookCidrs ?? [];
    if (cidrs.length > 0) {
      const ipSets = (['IPV4', 'IPV6'] as const)
        .map((version) => ({ version, addresses: cidrs.filter((cidr) => cidr.includes(':') === (version === 'IPV6')) }))
        .filter(({ addresses }) => addresses.length > 0)
        .map(({ version, addresses }) => new CfnIPSet(this, `StripeWebhookIps${version}`, { scope: 'REGIONAL', ipAddressVersion: version, addresses: [...addresses] }));
      const fromStripe = ipSets.map((set) => ({ ipSetReferenceStatement: { arn: set.attrArn } }));
      rules.push({
        name: 'WebhookOnlyFromStripe',
        priority: 0,
        action: { block: {} },
        statement: { andStatement: { statements: [webhookRequest, { notStatement: { statement: fromStripe.length === 1 ? fromStripe[0] : { orStatement: { statements: fromStripe } } } }] } },
        visibilityConfig: visibility('WebhookOnlyFromStripe'),
      });
    }
    rules.push(
      {
        name: 'RateLimitPerIp',
        priority: 1,
        action: { block: {} },
        statement: { rateBasedStatement: { limit: waf.requestsPerIpPer5Minutes, aggregateKeyType: 'IP', scopeDownStatement: notWebhook } },
        visibilityConfig: visibility('RateLimitPerIp'),
      },
      {
        name: 'BodySizeLimit',
        priority: 2,
        action: { block: {} },
        statement: {
          andStatement: {
            statements: [{ sizeConstraintStatement: { fieldToMatch: { body: { oversizeHandling: 'MATCH' } }, comparisonOperator: 'GT', size: WAF_MAX_BODY_BYTES, textTransformations: none } }, notWebhook],
          },
        },
        visibilityConfig: visibility('BodySizeLimit'),
      },
      {
        name: 'KnownBadInputs',
        priority: 3,
        overrideAction: { none: {} },
        statement: { managedRuleGroupStatement: { vendorName: 'AWS', name: 'AWSManagedRulesKnownBadInputsRuleSet', scopeDownStatement: notWebhook } },
        visibilityConfig: visibility('KnownBadInputs'),
      },
    );
    const acl = new CfnWebACL(this, 'WebAcl', {
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: visibility('PaymentsApi'),
      // Inspect up to 64 KiB of body (the default for API Gateway is 16 KiB).
      associationConfig: { requestBody: { API_GATEWAY: { defaultSizeInspectionLimit: 'KB_64' } } },
      rules,
    });
    new CfnWebACLAssociation(this, 'WebAclAssociation', {
      webAclArn: acl.attrArn,
      resourceArn: `arn:${Aws.PARTITION}:apigateway:${Aws.REGION}::/restapis/${this.restApi.restApiId}/stages/${stageName}`,
    }).node.addDependency(this.restApi.deploymentStage);
    return acl;
  }
}
