import { Aws, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import {
  AccessLogFormat,
  AuthorizationType,
  CognitoUserPoolsAuthorizer,
  EndpointType,
  LambdaIntegration,
  LogGroupLogDestination,
  MethodLoggingLevel,
  Model,
  RequestValidator,
  ResponseType,
  RestApi,
  type IResource,
  type Method,
} from 'aws-cdk-lib/aws-apigateway';
import type { IUserPool } from 'aws-cdk-lib/aws-cognito';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { CfnWebACL, CfnWebACLAssociation } from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { problemBody, type ProblemKind } from '../../lambdas/shared/problem';
import type { Throttle } from '../config';
import { requestModelSchema } from '../request-models';
import { routes, type HandlerName } from '../routes';

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
  readonly waf?: { readonly requestsPerIpPer5Minutes: number };
}

/** Largest JSON body WAF lets through (the handlers refuse more than 64 KiB anyway). */
const WAF_MAX_BODY_BYTES = 64 * 1024;

/**
 * The REST API: the routes of lib/routes.ts behind a Cognito authorizer (the webhook behind its
 * signature), bodies validated against the OpenAPI schemas, problem+json for every answer API
 * Gateway gives itself, access logs, stage and per-route throttling, and optional WAF.
 */
export class PaymentsApi extends Construct {
  readonly restApi: RestApi;
  readonly accessLogs: LogGroup;
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
      cloudWatchRole: true,
    });
    Validations.of(this.restApi).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      reason: 'The account-level role API Gateway needs to write access logs; AWS documents this managed policy as its permission set.',
    });
    this.addGatewayResponses();

    const authorizer = new CognitoUserPoolsAuthorizer(this, 'Authorizer', { cognitoUserPools: [props.userPool] });
    const bodyValidator = new RequestValidator(this, 'BodyValidator', { restApi: this.restApi, validateRequestBody: true, validateRequestParameters: true });
    for (const route of routes) {
      const resource = route.resource
        .split('/')
        .filter(Boolean)
        .reduce<IResource>((parent, part) => parent.getResource(part) ?? parent.addResource(part), this.restApi.root);
      const model = route.bodySchema
        ? new Model(this, `${route.bodySchema}Model`, { restApi: this.restApi, contentType: 'application/json', modelName: route.bodySchema, schema: requestModelSchema(route.bodySchema) })
        : undefined;
      const method: Method = resource.addMethod(route.method, new LambdaIntegration(props.handlers[route.handler]), {
        ...(route.authorized ? { authorizer, authorizationType: AuthorizationType.COGNITO } : { authorizationType: AuthorizationType.NONE }),
        ...(model ? { requestValidator: bodyValidator, requestModels: { 'application/json': model } } : {}),
      });
      if (!route.authorized) {
        const reason = 'Stripe cannot present a Cognito token: the webhook authenticates each request by its Stripe-Signature HMAC, verified on the raw body before anything else.';
        Validations.of(method).acknowledge({ id: 'AwsSolutions-APIG4', reason });
        Validations.of(method).acknowledge({ id: 'AwsSolutions-COG4', reason });
      }
    }

    if (props.waf) {
      this.webAcl = this.addWebAcl(props.waf.requestsPerIpPer5Minutes, webhookRoute.resource, props.stageName);
    } else {
      Validations.of(this.restApi).acknowledge({
        id: 'AwsSolutions-APIG3',
        reason: 'WAF is opt-in (context enableWaf=true) because it is billed per request; stage and webhook throttling are always on.',
      });
    }
  }

  /** API Gateway's own answers (401, throttling, validation...) speak problem+json too. */
  private addGatewayResponses() {
    const respond = (type: ResponseType, kind: ProblemKind, options: { status?: string; detail?: string; headers?: Record<string, string> } = {}) => {
      const { status: _status, ...body } = problemBody(kind);
      const template = JSON.stringify({ ...body, ...(options.status ? { status: Number(options.status) } : {}) }).replace(/}$/, options.detail ? `,"detail":${options.detail}}` : '}');
      this.restApi.addGatewayResponse(`${kind}${type.responseType}`, {
        type,
        statusCode: options.status,
        responseHeaders: { 'Content-Type': "'application/problem+json'", ...options.headers },
        templates: { 'application/json': template },
      });
    };
    // $context.error.validationErrorString is not JSON-escaped (it contains quotes), so it cannot go
    // into a JSON body; messageString is a quoted JSON string. Field-level pointers come from the
    // handler's own validation, which runs for anything API Gateway lets through.
    respond(ResponseType.BAD_REQUEST_BODY, 'validation', { status: '400', detail: '$context.error.messageString' });
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
    respond(ResponseType.DEFAULT_4XX, 'requestRejected', { detail: '$context.error.messageString' });
    respond(ResponseType.DEFAULT_5XX, 'gatewayError', { headers: { 'Retry-After': "'1'" } });
  }

  private addWebAcl(requestsPerIpPer5Minutes: number, webhookPath: string, stageName: string): CfnWebACL {
    const visibility = (metricName: string) => ({ cloudWatchMetricsEnabled: true, sampledRequestsEnabled: true, metricName });
    const acl = new CfnWebACL(this, 'WebAcl', {
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: visibility('PaymentsApi'),
      // Inspect up to 64 KiB of body (the default for API Gateway is 16 KiB).
      associationConfig: { requestBody: { API_GATEWAY: { defaultSizeInspectionLimit: 'KB_64' } } },
      rules: [
        {
          name: 'RateLimitPerIp',
          priority: 0,
          action: { block: {} },
          statement: { rateBasedStatement: { limit: requestsPerIpPer5Minutes, aggregateKeyType: 'IP' } },
          visibilityConfig: visibility('RateLimitPerIp'),
        },
        {
          // Stripe's webhooks are exempt: a blocked event would be retried for days, then lost.
          name: 'BodySizeLimit',
          priority: 1,
          action: { block: {} },
          statement: {
            andStatement: {
              statements: [
                { sizeConstraintStatement: { fieldToMatch: { body: { oversizeHandling: 'MATCH' } }, comparisonOperator: 'GT', size: WAF_MAX_BODY_BYTES, textTransformations: [{ priority: 0, type: 'NONE' }] } },
                { notStatement: { statement: { byteMatchStatement: { fieldToMatch: { uriPath: {} }, positionalConstraint: 'ENDS_WITH', searchString: webhookPath, textTransformations: [{ priority: 0, type: 'NONE' }] } } } },
              ],
            },
          },
          visibilityConfig: visibility('BodySizeLimit'),
        },
        {
          name: 'KnownBadInputs',
          priority: 2,
          overrideAction: { none: {} },
          statement: { managedRuleGroupStatement: { vendorName: 'AWS', name: 'AWSManagedRulesKnownBadInputsRuleSet' } },
          visibilityConfig: visibility('KnownBadInputs'),
        },
      ],
    });
    new CfnWebACLAssociation(this, 'WebAclAssociation', {
      webAclArn: acl.attrArn,
      resourceArn: `arn:${Aws.PARTITION}:apigateway:${Aws.REGION}::/restapis/${this.restApi.restApiId}/stages/${stageName}`,
    }).node.addDependency(this.restApi.deploymentStage);
    return acl;
  }
}
