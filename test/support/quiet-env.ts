// Handlers log JSON lines through Powertools; tests that want them capture them explicitly.
process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
process.env.POWERTOOLS_DEV ??= 'false';
process.env.AWS_REGION ??= 'us-east-1';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// The app client of local tokens (local/token.ts), as the stack sets it for its own client.
process.env.COGNITO_APP_CLIENT_IDS ??= 'local-client';
