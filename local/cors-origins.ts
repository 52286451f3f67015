import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { CORS_ALLOWED_ORIGINS_ENV } from '../lambdas/shared/cors';
import { corsAllowedOriginsFrom } from '../lib/config';

/** The project's cdk.json: its `context` is what `cdk synth`/`deploy` read besides `-c`. */
export const CDK_JSON = path.join(__dirname, '..', 'cdk.json');

/**
 * The origins `npm start` allows besides the demo shop's own, from the setting a deploy reads:
 * cdk.json's context `corsAllowedOrigins`, checked by the stack's own parser (lib/config.ts).
 * `CORS_ALLOWED_ORIGINS` (the handlers' variable, in `-c`'s comma-separated form) replaces it for
 * a local run, as `-c corsAllowedOrigins=…` would for one deploy; set but empty means none.
 */
export function localCorsAllowedOrigins(env: NodeJS.ProcessEnv = process.env, cdkJson = CDK_JSON): { origins: string[]; source: string } {
  const override = env[CORS_ALLOWED_ORIGINS_ENV];
  if (override !== undefined) {
    return { origins: corsAllowedOriginsFrom(override, `Environment variable ${CORS_ALLOWED_ORIGINS_ENV}`), source: CORS_ALLOWED_ORIGINS_ENV };
  }
  let context: Record<string, unknown> | undefined;
  try {
    context = (JSON.parse(readFileSync(cdkJson, 'utf8')) as { context?: Record<string, unknown> }).context;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { origins: [], source: `${cdkJson} (absent)` };
    throw new Error(`${cdkJson} is not valid JSON: ${(error as Error).message}`);
  }
  const source = `${path.basename(cdkJson)} context corsAllowedOrigins`;
  return { origins: corsAllowedOriginsFrom(context?.corsAllowedOrigins, `${cdkJson}: context corsAllowedOrigins`), source };
}
