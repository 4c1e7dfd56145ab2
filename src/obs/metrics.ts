import { Counter, Histogram, Registry, collectDefaultMetrics, Gauge } from "prom-client";

/** Prometheus metrics of the pipeline; one instance per process, exposed on /metrics. */
export class Metrics {
  readonly registry = new Registry();
  readonly consumed = new Counter({ name: "copilot_messages_consumed_total", help: "Records consumed from the customer-messages topic", registers: [this.registry] });
  readonly processed = new Counter({ name: "copilot_messages_processed_total", help: "Messages processed and persisted", labelNames: ["source", "status"] as const, registers: [this.registry] });
  readonly failed = new Counter({ name: "copilot_messages_failed_total", help: "Batches that failed and will be redelivered", registers: [this.registry] });
  readonly duplicates = new Counter({ name: "copilot_messages_duplicate_total", help: "Redelivered messages that were already processed", registers: [this.registry] });
  readonly dlq = new Counter({ name: "copilot_dlq_total", help: "Records sent to the dead-letter topic", labelNames: ["reason"] as const, registers: [this.registry] });
  readonly ingested = new Counter({ name: "copilot_messages_ingested_total", help: "Messages accepted by producers", labelNames: ["source"] as const, registers: [this.registry] });
  readonly workerLatency = new Histogram({
    name: "copilot_worker_duration_seconds",
    help: "Worker agent latency",
    labelNames: ["worker", "outcome"] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly endToEnd = new Histogram({
    name: "copilot_end_to_end_seconds",
    help: "Latency from message receipt to result published",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly wsClients = new Gauge({ name: "copilot_websocket_clients", help: "Connected WebSocket clients", labelNames: ["kind"] as const, registers: [this.registry] });

  constructor(defaults = true) {
    if (defaults) collectDefaultMetrics({ register: this.registry });
  }
}
