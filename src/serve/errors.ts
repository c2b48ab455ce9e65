// Every failure leaves the server in OpenAI's error shape, {error: {message, type, param, code}},
// whatever raised it: a route, Fastify's body parser or schema validation, a model worker.

import type { FastifyError } from 'fastify';
import { StrataError } from '../errors.js';

export type ApiErrorType = 'invalid_request_error' | 'rate_limit_error' | 'server_error';

export interface OpenAIErrorBody {
  error: { message: string; type: ApiErrorType; param: string | null; code: string | null };
}

/** An HTTP error with the fields OpenAI's error body carries. */
export class ApiError extends Error {
  readonly type: ApiErrorType;
  readonly param: string | null;
  readonly code: string | null;
  /** extra response headers (Retry-After on 429) */
  readonly headers: Record<string, string>;

  constructor(
    readonly status: number,
    message: string,
    options: { type?: ApiErrorType; param?: string | null; code?: string | null; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.type = options.type ?? (status >= 500 ? 'server_error' : status === 429 ? 'rate_limit_error' : 'invalid_request_error');
    this.param = options.param ?? null;
    this.code = options.code ?? null;
    this.headers = options.headers ?? {};
  }

  body(): OpenAIErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export function badRequest(message: string, param: string | null = null, code: string | null = null): ApiError {
  return new ApiError(400, message, { param, code });
}

export function modelNotFound(model: string, known: readonly string[]): ApiError {
  return new ApiError(404, `The model '${model}' does not exist. This server serves: ${known.map((k) => `'${k}'`).join(', ') || 'no models'}.`, {
    param: 'model',
    code: 'model_not_found',
  });
}

interface AjvErrorLike {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/** '/messages/0/role' → 'messages[0].role' */
function paramName(instancePath: string, missing?: unknown): string {
  const parts = instancePath.split('/').filter(Boolean);
  if (typeof missing === 'string') parts.push(missing);
  return parts.map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/**
 * One sentence for a failed schema check. A value allowed in several shapes (anyOf) fails once per
 * shape; those failures are folded into "must be string or array".
 */
function validationError(errors: readonly AjvErrorLike[]): ApiError {
  const first = errors.find((e) => e.keyword !== 'anyOf') ?? errors[0]!;
  if (first.keyword === 'required') {
    const param = paramName(first.instancePath, first.params.missingProperty);
    return badRequest(`Missing required parameter: '${param}'.`, param, 'missing_required_parameter');
  }
  if (first.keyword === 'additionalProperties') {
    const param = paramName(first.instancePath, first.params.additionalProperty);
    return badRequest(`Unrecognized request argument: '${param}'.`, param, 'unknown_parameter');
  }
  const param = paramName(first.instancePath);
  const where = param ? `'${param}'` : 'the request body';
  const here = errors.filter((e) => e.instancePath === first.instancePath);
  const anyOf = here.some((e) => e.keyword === 'anyOf');
  // of several allowed shapes, one had the right type but a wrong value: that is the one to explain
  const wrongValue = anyOf ? here.find((e) => e.keyword !== 'type' && e.keyword !== 'anyOf') : first.keyword === 'type' ? undefined : first;
  if (wrongValue) return badRequest(`Invalid value for ${where}: ${wrongValue.message ?? wrongValue.keyword}.`, param || null, 'invalid_value');
  const types = [...new Set(here.filter((e) => e.keyword === 'type').map((e) => String(e.params.type)))];
  return badRequest(`Invalid type for ${where}: expected ${types.join(' or ').replace(/,/g, ' or ')}.`, param || null, 'invalid_type');
}

const FASTIFY_CODES: Record<string, (e: FastifyError, contentType: string) => ApiError> = {
  FST_ERR_CTP_BODY_TOO_LARGE: () => new ApiError(413, 'The request body is larger than this server accepts.', { code: 'request_too_large' }),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => badRequest('The request body is empty: send a JSON object.', null, 'empty_body'),
  FST_ERR_CTP_INVALID_JSON_BODY: (e) => badRequest(`The request body is not valid JSON (${e.message}).`, null, 'invalid_json'),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: (_e, contentType) => new ApiError(415, `Unsupported content type '${contentType}'. Send application/json.`, { code: 'unsupported_media_type' }),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () => badRequest('The request body length does not match its Content-Length header.', null, 'invalid_content_length'),
  FST_REQ_FILE_TOO_LARGE: () => new ApiError(413, 'The uploaded file is larger than this server accepts.', { code: 'request_too_large' }),
  FST_PARTS_LIMIT: () => badRequest('Too many parts in the multipart upload.', null, 'too_many_parts'),
  FST_FILES_LIMIT: () => badRequest('Upload one file per request.', 'file', 'too_many_files'),
  FST_FIELDS_LIMIT: () => badRequest('Too many fields in the multipart upload.', null, 'too_many_fields'),
  FST_INVALID_MULTIPART_CONTENT_TYPE: () => badRequest('Send the upload as multipart/form-data.', null, 'invalid_content_type'),
};

/** Any thrown value as an ApiError: 4xx for what the request did wrong, 500 for the rest. */
export function toApiError(err: unknown, contentType = ''): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof StrataError) return err.code === 'io' || err.code === 'backend' ? new ApiError(500, err.message) : badRequest(err.message);
  const fe = err as Partial<FastifyError> & { validation?: AjvErrorLike[] };
  if (fe && Array.isArray(fe.validation) && fe.validation.length) return validationError(fe.validation);
  if (fe && typeof fe.code === 'string' && FASTIFY_CODES[fe.code]) return FASTIFY_CODES[fe.code]!(fe as FastifyError, contentType);
  if (err instanceof SyntaxError || fe?.statusCode === 400) return badRequest(`The request body is not valid JSON (${(err as Error).message}).`, null, 'invalid_json');
  const status = typeof fe?.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500 ? fe.statusCode : 500;
  const message = err instanceof Error ? err.message : String(err);
  return new ApiError(status, status === 500 ? `Internal error: ${message}` : message);
}
