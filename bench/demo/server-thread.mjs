// The demo's HTTP API, on its own thread so that its clock readings are not delayed by the
// client's event loop. Serves /users/:id after `latencyMs`; records arrivals (process clock)
// and the most requests in progress at once; answers 'stats', 'reset' and 'close' messages.
import { createServer } from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';

const { latencyMs } = workerData;
let arrivals = [];
let inFlight = 0;
let maxConcurrent = 0;

const server = createServer((req, res) => {
  arrivals.push(Number(process.hrtime.bigint()) / 1e6);
  inFlight++;
  maxConcurrent = Math.max(maxConcurrent, inFlight);
  const id = /\/users\/(\d+)/.exec(req.url ?? '')?.[1];
  setTimeout(() => {
    inFlight--;
    res.writeHead(id ? 200 : 404, { 'content-type': 'application/json', connection: 'close' });
    res.end(JSON.stringify(id ? { id, name: `User ${id}` } : { error: 'not found' }));
  }, latencyMs);
});

server.listen(0, '127.0.0.1', () => parentPort.postMessage({ type: 'listening', port: server.address().port }));

parentPort.on('message', (message) => {
  if (message === 'stats') parentPort.postMessage({ type: 'stats', arrivals, maxConcurrent });
  if (message === 'reset') {
    arrivals = [];
    maxConcurrent = 0;
    parentPort.postMessage({ type: 'reset' });
  }
  if (message === 'close') {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  }
});
