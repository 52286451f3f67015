import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { problemResult, toApiGatewayResponse } from '../shared/http';
import { problemKindOfSlug } from '../shared/problem';
import { apiBaseUrl, withProblemLink } from '../shared/problem-links';
import { problemIndexHtml, problemPageHtml } from './pages';

/**
 * GET /problems and /problems/{slug}: the documentation every problem response links to, served
 * by the API itself so the link works deployed (behind the stage path) and locally alike.
 */
export function createProblemsHandler() {
  return async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
    const baseUrl = apiBaseUrl(event);
    const slug = event.pathParameters?.slug;
    const kind = slug === undefined ? undefined : problemKindOfSlug(slug);
    if (slug !== undefined && !kind) return withProblemLink(event, toApiGatewayResponse(problemResult('notFound', 'No such problem type')));
    return {
      statusCode: 200,
      // Pages change only with a deployment.
      headers: { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'public, max-age=300' },
      body: kind ? problemPageHtml(kind, baseUrl) : problemIndexHtml(baseUrl),
    };
  };
}
