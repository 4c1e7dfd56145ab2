import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { GenerationSample } from "../llm/types.ts";

/** One consumer-lag sample: records in a partition that the group has not committed yet. */
export interface LagSample {
  group: string;
  topic: string;
  partition: string;
  lag: number;
}

/** Reports consumer lag when Prometheus scrapes (the Kafka bus asks the broker; the embedded bus counts its log). */
export type LagSource = () => Promise<LagSample[]>;

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const LAG_SCRAPE_TIMEOUT_MS = 2000;

/**
 * Prometheus metrics of the process; one instance per process, exposed on /metrics.
 * Every metric is registered at construction, so a dashboard can be checked against this registry
 * (test/ops/grafana.test.ts) even before a code path has observed anything.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly lagSources = new Set<LagSource>();

  // Pipeline
  readonly consumed = new Counter({ name: "copilot_messages_consumed_total", help: "Records consumed from the customer-messages topic", registers: [this.registry] });
  readonly processed = new Counter({ name: "copilot_messages_processed_total", help: "Messages processed and persisted", labelNames: ["source", "status"] as const, registers: [this.registry] });
  readonly failed = new Counter({ name: "copilot_messages_failed_total", help: "Batches that failed and will be redelivered", registers: [this.registry] });
  readonly duplicates = new Counter({ name: "copilot_messages_duplicate_total", help: "Redelivered messages that were already processed", registers: [this.registry] });
  readonly dlq = new Counter({ name: "copilot_dlq_total", help: "Records sent to the dead-letter topic", labelNames: ["reason"] as const, registers: [this.registry] });
  readonly parked = new Counter({ name: "copilot_parked_total", help: "Records parked on the DLQ after retriable failures that did not recover (alert on any increase)", labelNames: ["code"] as const, registers: [this.registry] });
  readonly persistRetries = new Counter({ name: "copilot_persist_retries_total", help: "Retries of a retriable persist failure in the master", registers: [this.registry] });
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
  /** Results by classified intent and sentiment, observed by the master from the combined result. */
  readonly classified = new Counter({
    name: "copilot_results_classified_total",
    help: "Processed messages by intent and sentiment label (unknown when the worker did not answer)",
    labelNames: ["intent", "sentiment"] as const,
    registers: [this.registry],
  });

  // Kafka
  readonly consumerLag = new Gauge({
    name: "copilot_kafka_consumer_lag",
    help: "Records not yet committed by the consumer group, per partition (read from the broker at scrape time)",
    labelNames: ["group", "topic", "partition"] as const,
    registers: [this.registry],
    collect: () => this.collectLag(),
  });

  // Dependencies
  readonly redisLatency = new Histogram({
    name: "copilot_redis_call_duration_seconds",
    help: "Session-store (Redis) call latency",
    labelNames: ["operation", "outcome"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly postgresLatency = new Histogram({
    name: "copilot_postgres_call_duration_seconds",
    help: "Database call latency (driver is postgres, or pglite when embedded)",
    labelNames: ["driver", "operation", "outcome"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  // Local models
  readonly inferenceLatency = new Histogram({
    name: "copilot_model_inference_duration_seconds",
    help: "Local model inference latency per call (one call may carry a batch)",
    labelNames: ["model", "task"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly inferenceBatchSize = new Histogram({
    name: "copilot_model_batch_size",
    help: "Inputs per local model inference call",
    labelNames: ["model", "task"] as const,
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [this.registry],
  });

  // Generation (Ollama or the local fallback)
  readonly llmTtft = new Histogram({
    name: "copilot_llm_time_to_first_token_seconds",
    help: "Seconds from generation request to the first streamed token",
    labelNames: ["model"] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32],
    registers: [this.registry],
  });
  readonly llmTokensPerSecond = new Histogram({
    name: "copilot_llm_tokens_per_second",
    help: "Completion tokens per second of one generation, measured after the first token",
    labelNames: ["model"] as const,
    buckets: [1, 2, 5, 10, 20, 40, 80, 160, 320],
    registers: [this.registry],
  });
  readonly llmTokens = new Counter({
    name: "copilot_llm_tokens_total",
    help: "Tokens processed by the generator",
    labelNames: ["model", "kind"] as const,
    registers: [this.registry],
  });
  readonly llmDuration = new Histogram({
    name: "copilot_llm_generation_duration_seconds",
    help: "Whole generation latency",
    labelNames: ["model", "outcome"] as const,
    buckets: [0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64],
    registers: [this.registry],
  });

  // Realtime and alerts
  readonly wsClients = new Gauge({ name: "copilot_websocket_clients", help: "Connected WebSocket clients", labelNames: ["kind"] as const, registers: [this.registry] });
  private readonly pendingRefusals = new Map<string, number>();
  /** Refusals by rule; a flood's refusals are counted with `refused()` and added here when the counter is read. */
  readonly rateLimited: Counter<"rule"> = new Counter({
    name: "copilot_rate_limited_total",
    help: "Requests, frames and connections refused by an abuse limit",
    labelNames: ["rule"] as const,
    registers: [this.registry],
    collect: () => this.flushRefusals(),
  });
  readonly signinChecks = new Counter({ name: "copilot_signin_password_checks_total", help: "Sign-in password verifications actually run (after the throttle)", registers: [this.registry] });
  readonly alertsFired = new Counter({ name: "copilot_alerts_fired_total", help: "Alerts fired by the alert rules", labelNames: ["kind"] as const, registers: [this.registry] });

  constructor(defaults = true) {
    if (defaults) collectDefaultMetrics({ register: this.registry });
  }

  /** Counts one refusal: a map increment, cheaper than a labelled counter update on every refused request. */
  refused(rule: string): void {
    this.pendingRefusals.set(rule, (this.pendingRefusals.get(rule) ?? 0) + 1);
  }

  private flushRefusals(): void {
    for (const [rule, n] of this.pendingRefusals) this.rateLimited.inc({ rule }, n);
    this.pendingRefusals.clear();
  }

  /** Adds a consumer-lag source read at scrape time; returns the function that removes it. */
  addLagSource(source: LagSource): () => void {
    this.lagSources.add(source);
    return () => this.lagSources.delete(source);
  }

  /** Records one local-model call: latency and how many inputs it carried. */
  observeInference(model: string, task: string, batchSize: number, seconds: number): void {
    this.inferenceLatency.observe({ model, task }, seconds);
    this.inferenceBatchSize.observe({ model, task }, batchSize);
  }

  /** Records one finished generation: TTFT, tokens/s after the first token, token counts and total latency. */
  observeGeneration(s: GenerationSample): void {
    const { model } = s;
    this.llmDuration.observe({ model, outcome: s.outcome }, s.totalSeconds);
    if (s.ttftSeconds !== undefined) this.llmTtft.observe({ model }, s.ttftSeconds);
    if (s.promptTokens) this.llmTokens.inc({ model, kind: "prompt" }, s.promptTokens);
    if (s.completionTokens) {
      this.llmTokens.inc({ model, kind: "completion" }, s.completionTokens);
      const streaming = s.totalSeconds - (s.ttftSeconds ?? 0);
      if (s.completionTokens > 1 && streaming > 0) this.llmTokensPerSecond.observe({ model }, (s.completionTokens - 1) / streaming);
    }
  }

  /** Counts the intent and sentiment labels of a combined result. */
  observeClassification(intent: string | undefined, sentiment: string | undefined): void {
    this.classified.inc({ intent: intent ?? "unknown", sentiment: sentiment ?? "unknown" });
  }

  private async collectLag(): Promise<void> {
    const sources = [...this.lagSources];
    const results = await Promise.all(
      sources.map((s) =>
        Promise.race([s(), new Promise<LagSample[]>((resolve) => setTimeout(() => resolve([]), LAG_SCRAPE_TIMEOUT_MS).unref?.())]).catch(() => [] as LagSample[]),
      ),
    );
    this.consumerLag.reset();
    for (const samples of results) for (const s of samples) this.consumerLag.set({ group: s.group, topic: s.topic, partition: s.partition }, s.lag);
  }
}
