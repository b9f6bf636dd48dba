import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';

export interface RequestLogOptions {
  /** Whether requests are logged at all: false below info, where nobody would read the lines. */
  enabled: boolean;
  /** Human-readable output (LOG_PRETTY): the line's message says it all, so it carries no fields. */
  pretty: boolean;
}

/**
 * One line per request, written when it is answered: `POST /api/jobs/ping 202 1.3 ms`. Fastify's
 * own controller writes two (incoming, completed), and serializes the request's host and socket
 * into the first: about 16 lines a request once pretty-printed. In JSON the line also carries
 * `method`, `url`, `statusCode` and `responseTime` (ms), for log queries. Routes with a
 * `logLevel` above info (the probes) write none: their request's logger drops info lines.
 */
export class RequestLog extends LogController {
  private readonly pretty: boolean;

  constructor(options: RequestLogOptions) {
    super({ disableRequestLogging: !options.enabled });
    this.pretty = options.pretty;
  }

  override incomingRequest(): void {
    // The completed line names the request.
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return;
    const { method, url } = request;
    const { statusCode } = reply;
    const responseTime = reply.elapsedTime;
    const line = `${method} ${url} ${statusCode} ${responseTime.toFixed(1)} ms`;
    if (error) reply.log.error({ err: error, method, url, statusCode, responseTime }, line);
    else if (this.pretty) reply.log.info(line);
    else reply.log.info({ method, url, statusCode, responseTime }, line);
  }
}
