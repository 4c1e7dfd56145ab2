import { type Config, ConfigError, loadConfig } from "./config.ts";
import { openWorkers } from "./agents/registry.ts";
import { openParts, startService } from "./runtime.ts";

/** Entry point: config → parts → agents → HTTP → signals. */
async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      process.exit(2);
    }
    throw e;
  }
  const parts = await openParts(config);
  // Workers load where they run: local models and the knowledge index with the master, the generator with drafting.
  const workers = config.role === "api" ? null : await openWorkers(parts);
  const service = await startService(parts, workers?.agents ?? [], { afterConsumersStopped: () => workers?.close() ?? Promise.resolve() });
  const server = service.app?.listen({ hostname: config.http.host, port: config.http.port, maxRequestBodySize: config.resilience.httpMaxBodyBytes });
  if (server) parts.log.info({ url: `http://${config.http.host}:${server.server?.port}` }, "support copilot listening");

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    const grace = config.resilience.shutdownGraceMs;
    const deadline = Date.now() + grace;
    parts.log.info({ signal, grace_ms: grace }, "shutting down: closing sockets, draining in-flight messages");
    const force = setTimeout(() => {
      parts.log.error({ grace_ms: grace }, "shutdown grace period over; exiting with work left");
      process.exit(1);
    }, grace);
    try {
      const http = server?.server;
      if (http) {
        // Stop listening and give in-flight HTTP requests a moment; then close what is left, WebSockets included,
        // with 1001 (going away) so widgets and dashboards reconnect to another replica. Bun's stop() without
        // force would wait for every open socket, so the drain below would never start.
        const graceful = http.stop(false);
        await Promise.race([graceful, Bun.sleep(Math.min(2000, grace / 5))]);
        await http.stop(true);
      }
      await service.stop({ drainUntil: deadline - Math.min(5000, grace / 4) });
    } catch (e) {
      parts.log.error({ err: (e as Error).message }, "error while shutting down");
      clearTimeout(force);
      process.exit(1);
    }
    clearTimeout(force);
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}

await main();
