#!/usr/bin/env node
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { configFromContext } from '../lib/config';
import { PaymentsStack } from '../lib/payments-stack';

const app = new App();
const config = configFromContext(app.node);
new PaymentsStack(app, app.node.tryGetContext('stackName') ?? `Payments-${config.stage}`, {
  config,
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
// A finding that is neither fixed nor acknowledged with a reason fails synth and deploy.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
