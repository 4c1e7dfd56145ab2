import type { InRecord, Subscription } from "../bus/interface.ts";
import { AppError, toAppError } from "../errors.ts";
import { draftPriority } from "../llm/queue.ts";
import { Outbox } from "../outbox/outbox.ts";
import { checks, outputOf, parseContract, reviewOf, urgencyLevelOf as urgencyLevel } from "../schema/events.ts";
import type { CustomerMessage } from "../schema/message.ts";
import { emptySession, type Session } from "../session/interface.ts";
import { groupBy, runWorker, type StageDeps } from "./master.ts";
import type { ResultEvent, WorkerFailure } from "./types.ts";

/** The generation queue priority of a result, from its sentiment worker's urgency and label. */
export function urgencyOf(ev: ResultEvent): number {
  return draftPriority(urgencyLevel(ev.outputs), outputOf(ev.outputs, "sentiment")?.label ?? null);
}

/** Options of the drafting stage; its `agents` are the slow workers that run after the result is published (the reply drafter). */
export interface DraftingOptions extends StageDeps {
  responsesTopic: string;
  timeoutMs: number;
  retries: number;
  /** Where the completed result is enqueued with the stored draft (one transaction); the process's relay publishes leftovers. */
  outbox?: Outbox;
}

/**
 * The drafting stage: a consumer group on response-events that runs the slow workers (a local LLM drafting the
 * reply) on each fresh result, stores their output on the result row, and re-publishes the completed result.
 * Triage, retrieval and the live feed never wait for generation; a draft that is lost in a crash is redone on
 * redelivery (offsets are committed after the row is updated), and a result that already has the output is skipped.
 */
export class DraftingStage {
  private sub: Subscription | null = null;
  private readonly outbox: Outbox;

  constructor(private readonly o: DraftingOptions) {
    if (o.agents.length === 0) throw new AppError("bad_options", "the drafting stage needs at least one agent");
    this.outbox = o.outbox ?? new Outbox(o.store.db, o.bus, { owner: `drafting-${Bun.randomUUIDv7()}` }, o.log);
  }

  async start(): Promise<void> {
    this.sub = await this.o.bus.subscribe({ groupId: this.o.groupId, topics: [this.o.responsesTopic], handler: (b) => this.handleBatch(b) });
    this.o.log.info({ component: "drafting", workers: this.o.agents.map((a) => a.name) }, "drafting stage consuming");
  }

  async stop(): Promise<void> {
    const s = this.sub;
    this.sub = null;
    if (s) await s.stop();
  }

  /** Fresh results (no decision, missing at least one of our outputs) in this batch, oldest first. */
  private pending(records: InRecord[]): ResultEvent[] {
    const out: ResultEvent[] = [];
    for (const r of records) {
      const parsed = parseContract(checks.responseEvent, r.value, "response event");
      if (!parsed.ok) {
        this.o.log.warn({ component: "drafting", offset: r.offset, code: parsed.error.code, err: parsed.error.message }, "record breaking its contract skipped");
        continue;
      }
      const ev = parsed.value;
      if (ev.type !== "message.result" || reviewOf(ev.outputs)) continue;
      if (this.missing(ev)) out.push(ev);
    }
    return out;
  }

  /** True when one of the stage's workers has neither an output nor a recorded attempt on this result. */
  private missing(ev: ResultEvent): boolean {
    return this.o.agents.some((a) => !(a.name in ev.outputs) && !(a.name in (ev.timings?.workers ?? {})));
  }

  /** Drafts for one batch; conversations in parallel, each conversation's messages in order. */
  async handleBatch(records: InRecord[]): Promise<void> {
    const candidates = this.pending(records);
    if (candidates.length === 0) return;
    // The stored row is the truth: a redelivered or replayed event whose draft is already stored costs one query.
    const stored = await this.o.store.loadEvents(candidates.map((e) => e.message_id));
    const todo = candidates.map((e) => stored.get(e.message_id)).filter((e): e is ResultEvent => !!e && this.missing(e));
    if (todo.length === 0) return;
    const messages = await this.o.store.loadMessages(todo.map((e) => e.message_id));
    const byConversation = groupBy(todo, (e) => e.conversation_id);
    // Conversations start most urgent first, so they also queue for the generator in that order (see GenerationQueue).
    const ordered = [...byConversation.entries()].sort((a, b) => Math.max(...b[1].map(urgencyOf)) - Math.max(...a[1].map(urgencyOf)));
    await Promise.all(
      ordered.map(async ([conversationId, events]) => {
        let session: Session;
        try {
          session = await this.o.sessions.get(conversationId);
        } catch (e) {
          this.o.log.warn({ component: "drafting", code: toAppError(e).code }, "session unavailable; drafting without memory");
          session = emptySession(conversationId);
        }
        for (const ev of events) {
          const msg = messages.get(ev.message_id);
          if (!msg) {
            this.o.log.warn({ component: "drafting", msg_id: ev.message_id }, "result without a stored message skipped");
            continue;
          }
          await this.draft(ev, msg, session);
        }
      }),
    );
  }

  private async draft(ev: ResultEvent, msg: CustomerMessage, session: Session): Promise<void> {
    const log = this.o.log.child({ component: "drafting", msg_id: ev.message_id });
    const outputs = { ...ev.outputs };
    const failures = [...ev.failures];
    const workers = { ...ev.timings.workers };
    const runs: { name: string; value: unknown; failure: WorkerFailure | null; ms: number }[] = [];
    for (const agent of this.o.agents) {
      if (agent.name in outputs || agent.name in workers) continue;
      const r = await runWorker(agent, msg, { conversationId: ev.conversation_id, session, previous: outputs, log }, agent.timeoutMs ?? this.o.timeoutMs, this.o.retries);
      const ms = Math.round(r.ms * 100) / 100;
      this.o.metrics.workerLatency.observe({ worker: agent.name, outcome: r.ok ? "ok" : "failed" }, r.ms / 1000);
      runs.push({ name: agent.name, value: r.ok ? r.value : null, failure: r.ok ? null : r.failure, ms });
      if (r.ok) outputs[agent.name] = r.value;
    }
    if (runs.length === 0) return;
    // The outputs and the event announcing them are stored together: a publish that fails after this commit is
    // retried by the outbox relay, instead of being skipped by redelivery (which sees the stored draft).
    const ids = await this.o.store.db.transaction(async (tx) => {
      let changed = false;
      for (const run of runs) {
        const stored = await this.o.store.addOutput(ev.message_id, run.name, run.value, run.failure, run.ms, tx);
        if (!stored) {
          delete outputs[run.name];
          continue;
        }
        changed = true;
        workers[run.name] = run.ms;
        if (run.failure) {
          failures.push(run.failure);
          log.warn({ worker: run.name, code: run.failure.code }, "drafting worker failed; result degraded");
        }
      }
      if (!changed) return [];
      const done: ResultEvent = { ...ev, revision: (ev.revision ?? 0) + 1, outputs, failures, degraded: failures.length > 0, timings: { ...ev.timings, workers } };
      const autoSent = outputOf(outputs, "reply")?.status === "auto_sent";
      return this.outbox.enqueue(tx, [
        {
          topic: this.o.responsesTopic,
          record: { key: ev.conversation_id, value: JSON.stringify(done), headers: { "message-id": ev.message_id, stage: "drafting" } },
          ...(autoSent ? { replyMessageId: ev.message_id } : {}),
        },
      ]);
    });
    await this.outbox.flush(ids);
  }
}
