import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** What the proxy does to one request. */
export type Fault =
  /** Answers 503 itself; the web never sees the request. */
  | 'unavailable'
  /** Forwards the request, lets the web act on it, then drops the connection instead of answering: a lost answer. */
  | 'drop-answer'
  /** Holds the request without forwarding or answering, until the proxy closes. */
  | 'hang';

/**
 * A real HTTP proxy in front of the real web that injects network faults into the next requests
 * (one fault per request, in order), and forwards the others untouched. It never answers in the
 * web's place except with its 503.
 */
export class FaultProxy {
  /** Method and path of every request that reached the proxy, in order. */
  readonly requests: string[] = [];
  private readonly faults: Fault[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly server = createServer((req, res) => this.handle(req, res));

  private constructor(private readonly upstream: URL) {
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  static async start(upstream: string): Promise<FaultProxy> {
    const proxy = new FaultProxy(new URL(upstream));
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The next requests get these faults, one each. */
  inject(...faults: Fault[]): void {
    this.faults.push(...faults);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests.push(`${req.method} ${req.url}`);
    const fault = this.faults.shift();
    if (fault === 'hang') return;
    if (fault === 'unavailable') {
      res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'PROXY_UNAVAILABLE', message: 'injected by the test proxy' }));
      return;
    }
    const forwarded = request(
      { host: this.upstream.hostname, port: this.upstream.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        if (fault === 'drop-answer') {
          answer.resume();
          answer.once('end', () => req.socket.destroy());
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forwarded.on('error', () => res.destroy());
    req.pipe(forwarded);
  }
}
