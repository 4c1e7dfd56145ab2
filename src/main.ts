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
  // Workers (local models, knowledge index, reply drafting) load only where the master agent consumes.
  const workers = config.role === "api" ? null : await openWorkers(parts);
  const service = await startService(parts, workers?.agents ?? [], { afterConsumersStopped: () => workers?.close() ?? Promise.resolve() });
  const server = service.app?.listen({ hostname: config.http.host, port: config.http.port, maxRequestBodySize: 1024 * 1024 });
  if (server) parts.log.info({ url: `http://${config.http.host}:${server.server?.port}` }, "support copilot listening");

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    parts.log.info({ signal }, "shutting down: finishing in-flight messages");
    const force = setTimeout(() => process.exit(1), 25_000);
    await server?.stop();
    await service.stop();
    clearTimeout(force);
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}

await main();
