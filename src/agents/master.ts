import type { EventBus, InRecord, Subscription } from "../bus/interface.ts";
import type { ProcessedMessage, Store } from "../db/store.ts";
import { AppError, toAppError } from "../errors.ts";
import type { Logger } from "../obs/log.ts";
import type { Metrics } from "../obs/metrics.ts";
import { reportError } from "../obs/sentry.ts";
import { maskPans, maskPansDeep } from "../privacy/index.ts";
import { contextFromHeaders, SpanStatusCode, withSpan } from "../obs/tracing.ts";
import { outputOf } from "../schema/events.ts";
import { conversationIdOf, parseCustomerMessage, type CustomerMessage, type MessageLimits } from "../schema/message.ts";
import { emptySession, type Session, type SessionStore, type Turn } from "../session/interface.ts";
import type { Agent, PrepareItem, ResultEvent, WorkerFailure } from "./types.ts";

/** What every consuming stage needs: the master agent and the drafting stage. */
export interface StageDeps {
  bus: EventBus;
  store: Store;
  sessions: SessionStore;
  /** The workers this stage runs. */
  agents: Agent[];
  metrics: Metrics;
  log: Logger;
  groupId: string;
}

/** Options of the master agent, validated by the factory. */
export interface MasterOptions extends StageDeps {
  topics: { messages: string; responses: string; dlq: string };
  limits: MessageLimits;
  workerTimeoutMs: number;
  workerRetries: number;
  /** How many conversations of one batch are processed at once. */
  concurrency: number;
  /** Bounded retries of a retriable persist failure (exponential backoff, capped) before bisecting and parking. */
  retry?: { maxAttempts: number; baseMs: number; maxMs: number };
}

/** Default persist retry policy: about 6 s of backoff in total before a record is suspected and parked. */
export const DEFAULT_RETRY = { maxAttempts: 5, baseMs: 200, maxMs: 5000 };

/** A record that failed validation, as published on the DLQ topic. */
export interface DlqEvent {
  reason: string;
  code: string;
  errors?: unknown;
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  raw: string;
  at: string;
}

/** Groups items by a key, keeping their order within each group. */
export function groupBy<T, K>(items: Iterable<T>, key: (item: T) => K): Map<K, T[]> {
  const out = new Map<K, T[]>();
  for (const it of items) {
    const k = key(it);
    const list = out.get(k);
    if (list) list.push(it);
    else out.set(k, [it]);
  }
  return out;
}

/**
 * Messages warmed up together by the workers' `prepare` (one encoder call). Bounded so the embedder's cache (2,048
 * vectors, two per message) still holds a window's vectors when four partitions' batches run at once.
 */
const PREPARE_WINDOW = 128;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Exponential backoff with jitter in [ceiling/2, ceiling], capped at maxMs. */
export function backoff(attempt: number, baseMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt - 1, 20));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

/** Runs one worker with a timeout and retries of retriable failures; never throws. */
export async function runWorker(
  agent: Agent,
  msg: CustomerMessage,
  ctx: Omit<Parameters<Agent["run"]>[1], "signal">,
  timeoutMs: number,
  retries: number,
): Promise<{ ok: true; value: unknown; ms: number; attempts: number } | { ok: false; failure: WorkerFailure; ms: number }> {
  const started = performance.now();
  let attempt = 0;
  for (;;) {
    attempt++;
    const ac = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        ac.abort();
        reject(new AppError("worker_timeout", `${agent.name} timed out after ${timeoutMs} ms`, { status: 504, retriable: true }));
      }, timeoutMs);
    });
    let error: AppError;
    try {
      const res = await Promise.race([agent.run(msg, { ...ctx, signal: ac.signal }), timeout]);
      if (res.ok) return { ok: true, value: res.value, ms: performance.now() - started, attempts: attempt };
      error = res.error;
    } catch (e) {
      error = toAppError(e, "worker_crashed");
    } finally {
      clearTimeout(timer);
    }
    if (!error.retriable || attempt > retries) {
      return { ok: false, failure: { worker: agent.name, code: error.code, message: error.message, attempts: attempt }, ms: performance.now() - started };
    }
    await sleep(Math.min(1000, 25 * 2 ** attempt));
  }
}

/**
 * The master agent: consumes customer-messages, validates, fans out to the worker agents stage by stage, persists
 * message + result idempotently, appends to the session, and publishes the result on response-events.
 * A batch's offsets are committed only after this handler resolves (see the bus).
 */
export class MasterAgent {
  private sub: Subscription | null = null;
  private readonly stages: Agent[][];
  private inFlight = 0;

  constructor(private readonly o: MasterOptions) {
    if (o.workerTimeoutMs <= 0) throw new AppError("bad_options", "workerTimeoutMs must be positive");
    if (o.concurrency < 1) throw new AppError("bad_options", "concurrency must be at least 1");
    const names = new Set<string>();
    for (const a of o.agents) {
      if (names.has(a.name)) throw new AppError("bad_options", `two agents are named ${a.name}`);
      names.add(a.name);
    }
    const byStage = groupBy(o.agents, (a) => a.stage ?? 0);
    this.stages = [...byStage.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => v);
  }

  /** Names of the registered workers, in stage order. */
  get workers(): string[] {
    return this.stages.flat().map((a) => a.name);
  }

  async start(): Promise<void> {
    this.sub = await this.o.bus.subscribe({ groupId: this.o.groupId, topics: [this.o.topics.messages], handler: (b) => this.handleBatch(b) });
    this.o.log.info({ component: "master", workers: this.workers }, "master agent consuming");
  }

  /** Stops consuming after the in-flight batch is finished and committed. */
  async stop(): Promise<void> {
    const s = this.sub;
    this.sub = null;
    if (s) await s.stop();
  }

  /** Consumer lag as reported by the bus. */
  async lag(): Promise<number> {
    return this.sub ? this.sub.lag() : 0;
  }

  /** Processes one batch from one partition. Throws (so the batch is redelivered) only on infrastructure failure. */
  async handleBatch(records: InRecord[]): Promise<void> {
    const { metrics, log } = this.o;
    this.inFlight++;
    try {
      metrics.consumed.inc(records.length);
      const valid: { msg: CustomerMessage; rec: InRecord }[] = [];
      const dead: DlqEvent[] = [];
      const seen = new Set<string>();
      for (const rec of records) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(rec.value);
        } catch (e) {
          dead.push(this.dlqEvent(rec, "invalid_json", `record value is not JSON: ${(e as Error).message}`));
          continue;
        }
        const res = parseCustomerMessage(parsed, this.o.limits);
        if (!res.ok) {
          dead.push(this.dlqEvent(rec, res.error.code, res.error.message, res.error.details));
          continue;
        }
        if (seen.has(res.value.id)) {
          metrics.duplicates.inc();
          continue;
        }
        seen.add(res.value.id);
        valid.push({ msg: res.value, rec });
      }
      if (dead.length) await this.deadLetter(dead);

      const existing = await this.o.store.existing(valid.map((v) => v.msg.id));
      const republish = [...existing.entries()].filter(([, e]) => !e.published).map(([id]) => id);
      const fresh = valid.filter((v) => !existing.has(v.msg.id));
      metrics.duplicates.inc(valid.length - fresh.length);

      // Workers run once per delivery; only persistence is retried, bisected and, for a bad record, dead-lettered.
      const processed = await this.processAll(fresh);
      const recOf = new Map(fresh.map((v) => [v.msg.id, v.rec]));
      const inserted = await this.persist(processed, recOf);
      const stored = processed.filter((p) => inserted.has(p.message.id));
      const events: ResultEvent[] = stored.map((p) => p.result);
      if (republish.length) events.push(...(await this.o.store.loadEvents(republish)).values());
      // Session memory and publication are independent once the rows are stored: do both at once.
      await Promise.all([
        this.appendSessions(stored),
        events.length
          ? this.o.bus
              .publish(
                this.o.topics.responses,
                events.map((e) => ({ key: e.conversation_id, value: JSON.stringify(e), headers: { "message-id": e.message_id } })),
              )
              .then(() => this.o.store.markPublished(events.map((e) => e.message_id)))
          : undefined,
      ]);
      const now = Date.now();
      for (const e of events) {
        metrics.processed.inc({ source: e.source, status: e.degraded ? "degraded" : "ok" });
        metrics.observeClassification(outputOf(e.outputs, "intent")?.label, outputOf(e.outputs, "sentiment")?.label);
        metrics.endToEnd.observe(Math.max(0, now - Date.parse(e.received_at)) / 1000);
      }
    } catch (e) {
      metrics.failed.inc();
      const ae = toAppError(e);
      reportError(ae, { component: "master", code: ae.code });
      log.error({ component: "master", code: ae.code, err: ae.message, partition: records[0]?.partition, offset: records[0]?.offset }, "batch failed; it will be redelivered");
      throw ae;
    } finally {
      this.inFlight--;
    }
  }

  /**
   * Saves processed messages with bounded failure handling, so no record is retried forever and no partition stalls:
   * - a permanent failure (bad data: SQLSTATE 22xxx/23xxx) of a group is bisected until the one bad record is found,
   *   which goes to the DLQ with the reason; the others are saved;
   * - a retriable failure backs off (exponential, capped) up to `maxAttempts`; if it persists while the database
   *   answers a ping, the group is bisected the same way and the record that keeps failing is parked (DLQ, reason
   *   `parked: …`, metric copilot_parked_total, error log/Sentry). If the database does not answer, the error is
   *   thrown: an outage is nobody's record, and the bus redelivers the batch once the database is back.
   * Returns the ids inserted by this call.
   */
  private async persist(items: ProcessedMessage[], recOf: Map<string, InRecord>): Promise<Set<string>> {
    const { maxAttempts, baseMs, maxMs } = this.o.retry ?? DEFAULT_RETRY;
    const inserted = new Set<string>();
    const save = async (part: ProcessedMessage[]): Promise<void> => {
      for (let attempt = 1; ; attempt++) {
        let ae: AppError;
        try {
          for (const id of await this.o.store.saveProcessed(part)) inserted.add(id);
          return;
        } catch (e) {
          ae = toAppError(e);
        }
        if (ae.retriable && attempt < maxAttempts) {
          this.o.metrics.persistRetries.inc();
          const wait = backoff(attempt, baseMs, maxMs);
          this.o.log.warn({ component: "master", code: ae.code, attempt, records: part.length, retry_in_ms: wait }, "persist failed; retrying");
          await sleep(wait);
          continue;
        }
        if (ae.retriable && !(await this.o.store.ping())) throw ae;
        if (part.length > 1) {
          const mid = part.length >> 1;
          this.o.log.warn({ component: "master", code: ae.code, records: part.length }, "persist failed for a group; bisecting to find the bad record");
          await save(part.slice(0, mid));
          await save(part.slice(mid));
          return;
        }
        const p = part[0]!;
        const rec = recOf.get(p.message.id)!;
        if (ae.retriable) {
          const ev = this.dlqEvent(rec, "parked", `parked: ${ae.code}: ${ae.message} (after ${attempt} attempts)`);
          await this.deadLetter([ev]);
          this.o.metrics.parked.inc({ code: ae.code });
          reportError(ae, { component: "master", code: "parked" });
          this.o.log.error({ component: "master", code: ae.code, msg_id: p.message.id, partition: rec.partition, offset: rec.offset, attempts: attempt }, "record parked after retriable failures that did not recover");
        } else {
          await this.deadLetter([this.dlqEvent(rec, ae.code, `permanent: ${ae.message}`)]);
        }
        return;
      }
    };
    if (items.length) await save(items);
    return inserted;
  }

  private dlqEvent(rec: InRecord, code: string, reason: string, errors?: unknown): DlqEvent {
    return { code, reason, errors, topic: rec.topic, partition: rec.partition, offset: rec.offset, key: rec.key || null, raw: maskPans(rec.value.slice(0, 256_000)), at: new Date().toISOString() };
  }

  private async deadLetter(dead: DlqEvent[]): Promise<void> {
    // The table first: whoever sees the record on the DLQ topic can then find its row.
    await this.o.store.saveDeadLetters(dead.map((d) => ({ topic: d.topic, partition: d.partition, offset: d.offset, key: d.key, reason: d.reason, errors: d.errors, raw: d.raw })));
    await this.o.bus.publish(this.o.topics.dlq, dead.map((d) => ({ key: d.key ?? "", value: JSON.stringify(d), headers: { reason: d.code } })));
    for (const d of dead) {
      this.o.metrics.dlq.inc({ reason: d.code });
      this.o.log.warn({ component: "master", code: d.code, partition: d.partition, offset: d.offset }, "record sent to DLQ");
    }
  }

  /**
   * Processes conversations concurrently, and each conversation's messages in order (the session depends on it).
   * The batch goes in windows of PREPARE_WINDOW messages: the workers' `prepare` warms up a whole window at once (one
   * encoder call for its texts), then its conversations run; windows run one after another, so order is kept.
   */
  private async processAll(items: { msg: CustomerMessage; rec: InRecord }[]): Promise<ProcessedMessage[]> {
    const headersOf = new Map(items.map((i) => [i.msg.id, i.rec.headers]));
    const sessions = new Map<string, { session: Session; failure: WorkerFailure | null }>();
    const out: ProcessedMessage[] = [];
    for (let w = 0; w < items.length; w += PREPARE_WINDOW) {
      const groups = groupBy(
        items.slice(w, w + PREPARE_WINDOW).map((i) => i.msg),
        conversationIdOf,
      );
      await this.loadSessions([...groups.keys()].filter((c) => !sessions.has(c)), sessions);
      await this.prepare([...groups.entries()].flatMap(([c, msgs]) => msgs.map((msg) => ({ msg, session: sessions.get(c)!.session }))));
      const queue = [...groups.entries()];
      const run = async () => {
        for (let g = queue.shift(); g; g = queue.shift()) {
          const [conversationId, msgs] = g;
          const { session, failure: sessionFailure } = sessions.get(conversationId)!;
          for (const msg of msgs) {
            const result = await withSpan("master.process", { parent: contextFromHeaders(headersOf.get(msg.id)), attributes: { "message.id": msg.id, "message.source": msg.source } }, async (span) => {
              const r = await this.process(msg, conversationId, session, sessionFailure);
              span.setAttribute("result.degraded", r.degraded);
              return r;
            });
            // Workers saw the card numbers; nothing after this point (rows, session, events) does.
            const stored = { ...msg, message: { ...msg.message, text: result.text } };
            out.push({ message: stored, conversationId, result });
            session.turns.push(customerTurn(stored, result));
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.o.concurrency, queue.length) }, run));
    }
    return out;
  }

  /**
   * Loads the sessions of these conversations: in one round trip when the store can (`getMany`), else at most
   * `concurrency` reads at once. An outage degrades the messages (a `session` failure), never fails the batch.
   */
  private async loadSessions(ids: string[], into: Map<string, { session: Session; failure: WorkerFailure | null }>): Promise<void> {
    const failed = (c: string, e: unknown) => {
      const ae = toAppError(e);
      into.set(c, { session: emptySession(c), failure: { worker: "session", code: ae.code, message: ae.message, attempts: 1 } });
    };
    const { sessions } = this.o;
    if (sessions.getMany) {
      if (ids.length === 0) return;
      try {
        const got = await sessions.getMany(ids);
        for (const c of ids) {
          const s = got.get(c);
          if (s instanceof AppError) failed(c, s);
          else into.set(c, { session: s ?? emptySession(c), failure: null });
        }
      } catch (e) {
        for (const c of ids) failed(c, e);
      }
      return;
    }
    const queue = [...ids];
    const load = async () => {
      for (let c = queue.shift(); c !== undefined; c = queue.shift()) {
        try {
          into.set(c, { session: await sessions.get(c), failure: null });
        } catch (e) {
          failed(c, e);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.o.concurrency, queue.length) }, load));
  }

  /** Runs the workers' batch warm-ups of the first stage; best effort (each message's own run decides). */
  private async prepare(batch: PrepareItem[]): Promise<void> {
    if (batch.length < 2) return;
    await Promise.all(
      (this.stages[0] ?? []).map((a) =>
        a.prepare?.(batch).catch((e) => this.o.log.debug({ component: "master", worker: a.name, err: toAppError(e).message }, "batch warm-up failed; messages run one by one")),
      ),
    );
  }

  /** Runs every stage of workers for one message and combines their outputs. */
  async process(msg: CustomerMessage, conversationId: string, session: Session, sessionFailure: WorkerFailure | null = null): Promise<ResultEvent> {
    const started = performance.now();
    const log = this.o.log.child({ component: "master", msg_id: msg.id });
    const outputs: Record<string, unknown> = {};
    const failures: WorkerFailure[] = sessionFailure ? [sessionFailure] : [];
    const timings: Record<string, number> = {};
    for (const stage of this.stages) {
      const previous = { ...outputs };
      await Promise.all(
        stage.map(async (agent) => {
          const r = await withSpan(`worker ${agent.name}`, { attributes: { "worker.name": agent.name } }, async (span) => {
            const res = await runWorker(agent, msg, { conversationId, session, previous, log: log.child({ worker: agent.name }) }, agent.timeoutMs ?? this.o.workerTimeoutMs, this.o.workerRetries);
            if (!res.ok) span.setStatus({ code: SpanStatusCode.ERROR, message: res.failure.code });
            return res;
          });
          timings[agent.name] = Math.round(r.ms * 100) / 100;
          this.o.metrics.workerLatency.observe({ worker: agent.name, outcome: r.ok ? "ok" : "failed" }, r.ms / 1000);
          if (r.ok) outputs[agent.name] = r.value;
          else {
            failures.push(r.failure);
            log.warn({ worker: agent.name, code: r.failure.code, attempts: r.failure.attempts }, "worker failed; result degraded");
          }
        }),
      );
    }
    return {
      type: "message.result",
      message_id: msg.id,
      conversation_id: conversationId,
      source: msg.source,
      user: { id: msg.user.id, ...(msg.user.name ? { name: msg.user.name } : {}) },
      text: maskPans(msg.message.text),
      received_at: msg.metadata.received_at,
      processed_at: new Date().toISOString(),
      outputs: maskPansDeep(outputs),
      failures: maskPansDeep(failures),
      degraded: failures.length > 0,
      timings: { total_ms: Math.round((performance.now() - started) * 100) / 100, workers: timings },
    };
  }

  /**
   * Appends the customer turns to session memory, in one round trip when the store can (`appendMany`); a session
   * outage is logged, not fatal (Postgres has the message).
   */
  private async appendSessions(items: ProcessedMessage[]): Promise<void> {
    const entries = [...groupBy(items, (p) => p.conversationId).entries()].map(([c, ps]) => [c, ps.map((p) => customerTurn(p.message, p.result))] as [string, Turn[]]);
    if (entries.length === 0) return;
    const warn = (e: unknown) => this.o.log.warn({ component: "master", code: toAppError(e).code }, "session append failed");
    const { sessions } = this.o;
    if (sessions.appendMany) {
      await sessions.appendMany(entries).catch(warn);
      return;
    }
    await Promise.all(entries.map(([c, turns]) => sessions.append(c, turns).catch(warn)));
  }

  /** True while a batch is being processed (used by graceful shutdown and tests). */
  get busy(): boolean {
    return this.inFlight > 0;
  }
}

/** The session turn recorded for a customer message: text plus the small facts later messages need. */
function customerTurn(msg: CustomerMessage, r: ResultEvent): Turn {
  const meta: Record<string, unknown> = {};
  const intent = outputOf(r.outputs, "intent");
  const sentiment = outputOf(r.outputs, "sentiment");
  if (intent?.label) meta.intent = intent.label;
  if (sentiment?.label) meta.sentiment = sentiment.label;
  return { role: "customer", text: msg.message.text, at: msg.metadata.received_at, message_id: msg.id, ...(Object.keys(meta).length ? { meta } : {}) };
}
