// A fleet of load-balancer stand-ins in a process of its own: one HTTP listener per target address answering
// /healthz with 200 "OK". It runs apart from the test process so that a busy test (spawning dig, say) never delays
// an answer past a probe's timeout. Commands arrive over IPC: { open: ids } / { close: ids }; each is acknowledged
// with { done, ports } once every listener has opened or closed.
import { createServer, type Server } from 'node:http';

interface Target { id: string; address: string; port: number }

const targets = new Map<string, Target>();
const servers = new Map<string, Server>();

async function open(target: Target): Promise<void> {
  if (servers.has(target.id)) return;
  const server = createServer((request, response) => response.writeHead(request.url === '/healthz' ? 200 : 404, { connection: 'close' }).end('OK'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(target.port, target.address, () => resolve());
  });
  target.port = (server.address() as { port: number }).port;
  servers.set(target.id, server);
}

async function close(id: string): Promise<void> {
  const server = servers.get(id);
  if (server === undefined) return;
  servers.delete(id);
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

process.on('message', (message: { add?: { id: string; address: string }[]; open?: string[]; close?: string[] }) => {
  void (async () => {
    for (const target of message.add ?? []) targets.set(target.id, { ...target, port: 0 });
    for (const id of message.open ?? []) await open(targets.get(id)!);
    for (const id of message.close ?? []) await close(id);
    process.send!({ done: true, ports: Object.fromEntries([...targets].map(([id, target]) => [id, target.port])) });
  })().catch((error: Error) => process.send!({ done: false, error: error.message }));
});
process.on('disconnect', () => process.exit(0));
