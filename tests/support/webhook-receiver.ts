import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local HTTP receiver for alert webhooks: keeps each JSON body it gets and answers with the
 * next status of `script` (200 once the script runs out).
 *
 *   const receiver = await WebhookReceiver.start();
 *   ... ALERT_WEBHOOK_URL: receiver.url ...
 *   await expect.poll(() => receiver.received).toHaveLength(1);
 */
export class WebhookReceiver<Body = Record<string, unknown>> {
  readonly received: Body[] = [];
  script: number[] = [];

  private readonly server: Server;
  private address = '';

  private constructor() {
    this.server = createServer((request, response) => {
      let body = '';
      request.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      request.on('end', () => {
        this.received.push(JSON.parse(body) as Body);
        response.writeHead(this.script.shift() ?? 200).end();
      });
    });
  }

  /** Where to POST: the receiver's address on 127.0.0.1. */
  get url(): string {
    return this.address;
  }

  static async start<Body = Record<string, unknown>>(): Promise<WebhookReceiver<Body>> {
    const receiver = new WebhookReceiver<Body>();
    receiver.server.listen(0, '127.0.0.1');
    await once(receiver.server, 'listening');
    receiver.address = `http://127.0.0.1:${(receiver.server.address() as AddressInfo).port}/hook`;
    return receiver;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

/** A URL where nothing listens: a webhook that is down. */
export async function deadWebhookUrl(): Promise<string> {
  const receiver = await WebhookReceiver.start();
  await receiver.close();
  return receiver.url;
}
