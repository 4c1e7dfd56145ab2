import { AppError } from "../errors.ts";
import { consumerGroups } from "../config.ts";
import type { Subscription } from "../bus/interface.ts";
import { createGenerator } from "../llm/index.ts";
import type { Generator } from "../llm/types.ts";
import { extractEntities, loadTriage, redact, type Triage } from "../ml/index.ts";
import { loadAnswerabilityHead, openKnowledge, type AnswerabilityHead, type Knowledge, type PastTicket } from "../rag/index.ts";
import { privacyEvent } from "../privacy/index.ts";
import type { Parts } from "../runtime.ts";
import { checks, outputOf, parseContract } from "../schema/events.ts";
import { BusReplyStream, responseAgentFromConfig, SupersedeRegistry, watchNewMessages } from "./response/index.ts";
import { DraftingStage } from "./drafting.ts";
import { knowledgeAgent } from "./knowledge/index.ts";
import { triageAgents } from "./triage/index.ts";
import type { Agent } from "./types.ts";

/** The worker agents of a consuming process and the long-lived parts behind them (what its ROLE runs). */
export interface Workers {
  /** The master's workers (fast: triage and retrieval); empty in a `drafter` process. */
  agents: Agent[];
  /** The drafting stage: the reply drafter on its own consumer group, after the result is published (`all`, `drafter`). */
  drafting: DraftingStage | null;
  /** The local classifiers (`all`, `worker`). */
  triage: Triage | null;
  /** The knowledge index with its past-tickets consumer (`all`, `worker`). */
  knowledge: Knowledge | null;
  generator: Generator | null;
  close(): Promise<void>;
}

/**
 * Loads what this process's role runs. `worker`: the local models once (one encoder serves triage and retrieval) and
 * the knowledge index, for the master's workers. `drafter`: the reply drafter on the published results, with the
 * generator and the supersede watcher, so generation never shares an event loop with triage. `all` runs both.
 */
export async function openWorkers(parts: Parts): Promise<Workers> {
  const { config } = parts;
  const master = config.role === "all" || config.role === "worker";
  const drafter = config.role === "all" || config.role === "drafter";
  const fast = master ? await openFastWorkers(parts) : null;
  const slow = drafter ? await openDrafting(parts) : null;
  return {
    agents: fast?.agents ?? [],
    drafting: slow?.drafting ?? null,
    triage: fast?.triage ?? null,
    knowledge: fast?.knowledge ?? null,
    generator: slow?.generator ?? null,
    async close() {
      await slow?.close();
      await fast?.close();
    },
  };
}

/** Triage and retrieval for the master, and the consumer that turns approved replies into similar past tickets. */
async function openFastWorkers(parts: Parts): Promise<{ agents: Agent[]; triage: Triage; knowledge: Knowledge; close(): Promise<void> }> {
  const { config, log, metrics, bus } = parts;
  const groups = consumerGroups(config);
  const triage = await loadTriage({
    modelsDir: config.models.dir,
    watchMs: config.models.pollMs,
    embedText: config.models.embedText,
    onSwap: (e) =>
      e.error ? log.error({ component: "triage", task: e.task, version: e.version, err: e.error }, "promoted head not loaded; the previous one stays") : log.info({ component: "triage", task: e.task, version: e.version }, "head swapped in"),
    embedder: { workers: config.models.encoderWorkers, threads: config.models.encoderThreads ?? undefined, onRun: (n, s) => metrics.observeInference("bge-small-en-v1.5", "embed", n, s) },
  });
  const knowledge = await openKnowledge({
    embedder: triage.embedder,
    dataDir: config.rag.dataDir,
    kbDir: config.rag.kbDir,
    params: { M: config.rag.M, efConstruction: config.rag.efConstruction, efSearch: config.rag.efSearch, threshold: config.rag.threshold },
    answerability: config.rag.answerabilityHead ? requiredHead(config.rag.answerabilityHead) : null,
    log,
    // Answer at once from the stored index; a fresh data dir finishes its first KB ingest in the background.
    waitForSync: false,
  });
  // Approved replies become "similar past tickets"; a new worker rebuilds its collection from the topic's history.
  const tickets: Subscription = await bus.subscribe({
    groupId: groups.pastTickets,
    topics: [config.topics.responses],
    handler: pastTicketsHandler(knowledge),
  });
  return {
    agents: [...triageAgents(triage.model), knowledgeAgent(knowledge)],
    triage,
    knowledge,
    async close() {
      await tickets.stop();
      await knowledge.close();
      await triage.close();
    },
  };
}

/** The drafting stage with its generator, reply stream and the watcher that cancels drafts a newer message supersedes. */
async function openDrafting(parts: Parts): Promise<{ drafting: DraftingStage; generator: Generator | null; close(): Promise<void> }> {
  const { config, log, metrics, bus, sessions } = parts;
  const groups = consumerGroups(config);
  const generator = createGenerator(config, log, metrics);
  const supersede = new SupersedeRegistry();
  const watcher: Subscription = await watchNewMessages(bus, config.topics.messages, groups.supersede, supersede, log);
  const stream = new BusReplyStream(bus, config.topics.stream, log);
  const reply = responseAgentFromConfig(config, { generator, sessions, stream, supersede });
  const drafting = new DraftingStage({
    bus,
    store: parts.store,
    sessions,
    agents: [reply],
    metrics,
    log,
    groupId: groups.drafting,
    responsesTopic: config.topics.responses,
    timeoutMs: config.reply.timeoutMs,
    retries: config.master.workerRetries,
    outbox: parts.outbox,
  });
  await drafting.start();
  return {
    drafting,
    generator,
    async close() {
      await drafting.stop();
      await watcher.stop();
      await stream.flush();
      await generator?.close();
    },
  };
}

/** The past-tickets consumer: approved replies are added; erasure and retention events drop entries, in topic order. */
export function pastTicketsHandler(knowledge: Pick<Knowledge, "addPastTicket" | "removePastTickets">) {
  return async (records: { value: string }[]): Promise<void> => {
    for (const r of records) {
      // Nearly every event on the topic is a fresh result: a substring test skips them without parsing the whole event
      // (JSON.stringify writes the status and the event type verbatim, so no event this consumer needs is skipped).
      if (r.value.includes('"approved"')) {
        const t = approvedTicket(r.value);
        if (t) {
          await knowledge.addPastTicket(t);
          continue;
        }
      }
      if (!r.value.includes('"privacy.')) continue;
      // Erasure and retention reach every replica's index the same way tickets do, and are replayed in order.
      const p = privacyEvent(r.value);
      if (p) await knowledge.removePastTickets(p.type === "privacy.erase" ? { ids: p.ticket_ids } : { before: p.before });
    }
  };
}

/** A past ticket from a result event whose reply a person approved (or edited then approved); null otherwise. */
export function approvedTicket(raw: string): PastTicket | null {
  const parsed = parseContract(checks.resultEvent, raw, "result event");
  if (!parsed.ok) return null;
  const ev = parsed.value;
  const reply = outputOf(ev.outputs, "reply");
  if (reply?.status !== "approved" || !reply.review) return null;
  // Another customer may be shown this ticket: their card numbers, IBANs, emails and phones never enter the index.
  const scrub = (text: string) => redact(text, extractEntities(text)).text;
  return { id: ev.message_id, question: scrub(ev.text), answer: scrub(reply.text), conversation_id: ev.conversation_id, resolved_at: reply.review.at };
}

/** A configured answerability head must exist: a typo in RAG_ANSWERABILITY_HEAD must not silently disable it. */
function requiredHead(path: string): AnswerabilityHead {
  const head = loadAnswerabilityHead(path);
  if (!head) throw new AppError("bad_config", `RAG_ANSWERABILITY_HEAD: no answerability head at ${path} (train one with bun run train:answerability, or set none)`);
  return head;
}
