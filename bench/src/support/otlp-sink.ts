import { createServer } from 'node:http';

// An OTLP/HTTP collector that keeps nothing, to measure Drumline with tracing on:
//   node bench/dist/support/otlp-sink.js 4318 &
//   BENCH_APP_ENV='OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318' pnpm bench --only worker-throughput,http-enqueue --quick
// It answers every export 200 at once and, when stopped (SIGTERM, SIGINT), prints how many
// exports and bytes it received.

const port = Number(process.argv[2] ?? 4318);
let exports = 0;
let bytes = 0;
const server = createServer((request, response) => {
  request.on('data', (chunk: Buffer) => (bytes += chunk.length));
  request.on('end', () => {
    exports += 1;
    response.writeHead(200, { 'content-type': request.headers['content-type'] ?? 'application/x-protobuf' }).end();
  });
});
server.listen(port, '127.0.0.1');
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    process.stdout.write(`${JSON.stringify({ exports, bytes })}\n`);
    server.close();
    server.closeAllConnections();
  });
}
