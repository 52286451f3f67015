import { withCors } from '../shared/cors';
import { createProblemsHandler } from './create-problems-handler';

// CORS headers for the allowed origins (CORS_ALLOWED_ORIGINS): API Gateway adds none to a proxy response.
export const handler = withCors(createProblemsHandler());
