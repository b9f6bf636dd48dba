import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The port of OTLP/HTTP, where an exporter given no endpoint sends (`http://localhost:4318`). */
export const OTLP_DEFAULT_PORT = 4318;

/** One exported span, flattened from OTLP's JSON encoding (ids in hex, attribute values unwrapped). */
export interface ReceivedSpan {
  service: string;
  name: string;
  /** OTLP's SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  traceId: string;
  spanId: string;
  /** Empty for a root span. */
  parentSpanId: string;
  attributes: Record<string, unknown>;
  /** OTLP's status code: 0 unset, 1 ok, 2 error. */
  status: number;
  events: string[];
  links: { traceId: string; spanId: string }[];
}

/** A request the receiver got, as sent. */
export interface ReceivedRequest {
  path: string;
  contentType: string;
  bytes: number;
}

interface OtlpValue {
  stringValue?: string;
  intValue?: number | string;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: OtlpValue[] };
}
type OtlpAttributes = { key: string; value: OtlpValue }[] | undefined;
interface OtlpSpan {
  name: string;
  kind?: number;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  attributes?: OtlpAttributes;
  status?: { code?: number };
  events?: { name: string }[];
  links?: { traceId: string; spanId: string }[];
}
interface OtlpTraces {
  resourceSpans?: { resource?: { attributes?: OtlpAttributes }; scopeSpans?: { spans?: OtlpSpan[] }[] }[];
}

function unwrap(value: OtlpValue): unknown {
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.arrayValue !== undefined) return (value.arrayValue.values ?? []).map(unwrap);
  return undefined;
}

function attributesOf(attributes: OtlpAttributes): Record<string, unknown> {
  return Object.fromEntries((attributes ?? []).map(({ key, value }) => [key, unwrap(value)]));
}

/**
 * An OTLP/HTTP trace receiver on a loopback port, the collector of a test: it answers every export
 * with 200 and keeps the spans of those sent as JSON (OTEL_EXPORTER_OTLP_PROTOCOL=http/json);
 * protobuf ones are counted in `requests`, not decoded.
 *
 *   const receiver = await OtlpReceiver.start();
 *   ... OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint ...
 *   await expect.poll(() => receiver.spans.filter(...)).toHaveLength(1);
 */
export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  readonly requests: ReceivedRequest[] = [];
  private readonly server: Server;
  private address = '';

  private constructor() {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks);
        const contentType = request.headers['content-type'] ?? '';
        this.requests.push({ path: request.url ?? '', contentType, bytes: body.length });
        if (contentType.startsWith('application/json')) this.keep(JSON.parse(body.toString('utf8')) as OtlpTraces);
        response.writeHead(200, { 'content-type': contentType || 'application/json' }).end(contentType.startsWith('application/json') ? '{}' : '');
      });
    });
  }

  /** OTEL_EXPORTER_OTLP_ENDPOINT for the apps: traces are POSTed to `<it>/v1/traces`. */
  get endpoint(): string {
    return this.address;
  }

  /**
   * Listens on a free port of 127.0.0.1; or, with `port`, on that port of every local address, IPv4
   * and IPv6 (`localhost` can be either): `OTLP_DEFAULT_PORT` is where an SDK left to its defaults sends.
   */
  static async start(port?: number): Promise<OtlpReceiver> {
    const receiver = new OtlpReceiver();
    if (port === undefined) receiver.server.listen(0, '127.0.0.1');
    else receiver.server.listen({ port, host: '::', ipv6Only: false });
    await once(receiver.server, 'listening');
    receiver.address = `http://127.0.0.1:${(receiver.server.address() as AddressInfo).port}`;
    return receiver;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private keep(traces: OtlpTraces): void {
    for (const { resource, scopeSpans } of traces.resourceSpans ?? []) {
      const service = String(attributesOf(resource?.attributes)['service.name'] ?? '');
      for (const { spans } of scopeSpans ?? []) {
        for (const span of spans ?? []) {
          this.spans.push({
            service,
            name: span.name,
            kind: span.kind ?? 0,
            traceId: span.traceId,
            spanId: span.spanId,
            parentSpanId: span.parentSpanId ?? '',
            attributes: attributesOf(span.attributes),
            status: span.status?.code ?? 0,
            events: (span.events ?? []).map((event) => event.name),
            links: (span.links ?? []).map(({ traceId, spanId }) => ({ traceId, spanId })),
          });
        }
      }
    }
  }
}
