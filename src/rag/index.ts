import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { AppError } from "../errors.ts";
import type { Logger } from "../obs/log.ts";
import type { Turn } from "../session/interface.ts";
import { answerabilityFeatures, answerabilityScore, DEEP_K, type AnswerabilityFeatures, type AnswerabilityHead } from "./answerability.ts";
import { Collection, type Progress, type SyncStats } from "./collection.ts";
import { contextualQuery } from "./rewrite.ts";
import { isInternal, loadPath } from "./sources.ts";
import { DEFAULT_PARAMS, type Embedder, type Passage, type RagParams, type SourceDoc } from "./types.ts";

export { Collection } from "./collection.ts";
export { loadAnswerabilityHead, type AnswerabilityHead } from "./answerability.ts";
export { DEFAULT_PARAMS } from "./types.ts";
export type { Passage, RagParams, SourceDoc } from "./types.ts";

/** A resolved conversation with its approved reply, as recorded by the approval flow. */
export interface PastTicket {
  id: string;
  question: string;
  answer: string;
  conversation_id: string;
  resolved_at: string;
}

/** Options of {@link openKnowledge}. */
export interface KnowledgeOptions {
  /** The process's shared encoder (never a second copy). */
  embedder: Embedder;
  /** Where the indexes live (default `.data/index`). */
  dataDir?: string;
  /** Folder synced into the KB collection at open (default `kb`); null skips it. */
  kbDir?: string | null;
  params?: Partial<RagParams>;
  /**
   * Answerability head (the multi-KB default from `bun run train:answerability`, see `RAG_ANSWERABILITY_HEAD`): the agent also
   * abstains when the head judges that the best passages are related but do not answer. Null or absent: the
   * similarity threshold alone decides.
   */
  answerability?: AnswerabilityHead | null;
  log?: Logger;
  /**
   * Wait for the KB folder sync before returning (default true). With false the service answers at once from the
   * stored index and `ready` resolves when the first ingest (embedding the whole KB on a fresh data dir) is done.
   */
  waitForSync?: boolean;
}

/** What a search returns: KB passages and similar past tickets, each already thresholded. */
export interface SearchResult {
  query: string;
  rewritten: boolean;
  /** True when no KB passage and no past ticket clears the threshold, or the answerability head says no. */
  abstain: boolean;
  threshold: number;
  /** P(the KB answers the query) and the head's cut-off; null without a head. */
  answerability: { p: number; threshold: number } | null;
  /** Why the search abstains, in words an agent can read; null when it does not. */
  abstain_reason: string | null;
  /** Customer-facing KB passages: the only ones a reply may quote or cite. */
  passages: Passage[];
  /** Internal guidance (documents marked `audience: internal`) that clears the threshold: for the agent's eyes only. */
  guidance: Passage[];
  tickets: Passage[];
  timings_ms: { embed: number; search: number };
}

/** Search options. */
export interface SearchOptions {
  /** KB passages to return (default params.topK). */
  k?: number;
  /** Past tickets to return (default 2). */
  tickets?: number;
  /** Earlier turns of the conversation, for follow-up questions. */
  turns?: readonly Turn[];
  /** Message id of the current message (so it is not mistaken for context). */
  messageId?: string;
  /** Return passages below the threshold too (diagnostics, evaluation). */
  all?: boolean;
}

/** The knowledge service: search (the knowledge worker in src/agents/knowledge runs it) and the index's operations. */
export interface Knowledge {
  search(query: string, opts?: SearchOptions): Promise<SearchResult>;
  /** Embeds the search queries of a batch in one encoder call (the searches then hit the embedder's cache). */
  prefetch(queries: readonly { query: string; turns?: readonly Turn[]; messageId?: string }[]): Promise<void>;
  /** Answerability features of a query against ranked KB passages (training and evaluation of the head). */
  answerabilityFeatures(query: string, ranked: readonly Passage[], qvec?: Float32Array): Promise<AnswerabilityFeatures>;
  /** Ingests a folder, a Markdown/HTML/text file or a JSONL file into the KB (incremental). */
  ingest(path: string, opts?: { progress?: Progress }): Promise<SyncStats>;
  /** Records a resolved ticket with its approved reply; searchable at once, persisted in the tickets log. */
  addPastTicket(t: PastTicket): Promise<void>;
  /**
   * Erasure and retention: drops past tickets by id and/or resolved before a date from the index (hnswlib
   * markDelete, BM25, chunk store) and rewrites the tickets log without them. Returns how many were dropped.
   */
  removePastTickets(sel: { ids?: readonly string[]; before?: string }): Promise<number>;
  stats(): { kb: { docs: number; chunks: number; bytes: number }; tickets: { docs: number; chunks: number; bytes: number } };
  /** The result of the start-up sync of the KB folder (empty until `ready` resolves). */
  readonly startup: SyncStats[];
  /** Resolves when the start-up sync of the KB folder is done; rejects if it failed. */
  readonly ready: Promise<SyncStats[]>;
  close(): Promise<void>;
}

const TICKET_ORIGIN = "tickets.jsonl";
/** Internal guidance passages shown to the agent beside the citable ones. */
const GUIDANCE_K = 3;

function ticketDoc(t: PastTicket): SourceDoc {
  return {
    id: `ticket:${t.id}`,
    title: t.question.replace(/\s+/g, " ").trim().slice(0, 160),
    text: `Customer: ${t.question.trim()}\n\nApproved reply: ${t.answer.trim()}`,
    format: "text",
    source: `ticket:${t.id}`,
    updated_at: t.resolved_at,
    origin: TICKET_ORIGIN,
    meta: { ticket_id: t.id, conversation_id: t.conversation_id, resolved_at: t.resolved_at },
  };
}

function validTicket(t: PastTicket): void {
  const problems: string[] = [];
  for (const k of ["id", "question", "answer", "conversation_id", "resolved_at"] as const) {
    if (typeof t?.[k] !== "string" || !t[k].trim()) problems.push(`${k} must be a non-empty string`);
  }
  if (!problems.length && Number.isNaN(Date.parse(t.resolved_at))) problems.push("resolved_at must be a date");
  if (problems.length) throw new AppError("invalid_ticket", `past ticket rejected: ${problems.join("; ")}`, { status: 422, details: problems });
}

/**
 * Opens the knowledge service: the KB collection (synced from `kbDir` at open; unchanged files cost a hash each)
 * and the past-tickets collection (replayed from its append-only log), both under `dataDir`.
 */
export async function openKnowledge(o: KnowledgeOptions): Promise<Knowledge> {
  const params: RagParams = { ...DEFAULT_PARAMS, ...o.params };
  const dataDir = resolve(o.dataDir ?? ".data/index");
  mkdirSync(dataDir, { recursive: true });
  const log = o.log?.child({ component: "rag" });
  const common = { embedder: o.embedder, params, onModelMismatch: "reembed" as const, log };
  const kb = await Collection.open({ ...common, dir: join(dataDir, "kb"), name: "kb" });
  // The tickets log is the durable record, so index writes can be coalesced.
  const tickets = await Collection.open({ ...common, dir: join(dataDir, "tickets"), name: "tickets", saveDelayMs: 2000 });
  const ticketLog = join(dataDir, "tickets.jsonl");
  const idf = (t: string) => kb.idf(t);
  // Title vectors of KB documents for the answerability features, embedded on first use (bounded cache).
  const titleVecs = new Map<string, Float32Array>();
  const titleCos = async (qvec: Float32Array, ranked: readonly Passage[]): Promise<number[]> => {
    const top = ranked.slice(0, 5);
    const key = (p: Passage) => `${p.doc_id}\u0000${p.title}`;
    const missing = [...new Set(top.filter((p) => !titleVecs.has(key(p))).map(key))];
    if (missing.length) {
      const vecs = await o.embedder.embed(missing.map((k) => k.slice(k.indexOf("\u0000") + 1)), "passage");
      if (titleVecs.size + missing.length > 20_000) titleVecs.clear();
      missing.forEach((k, i) => titleVecs.set(k, vecs[i]!));
    }
    return top.map((p) => {
      const v = titleVecs.get(key(p))!;
      let s = 0;
      for (let i = 0; i < v.length; i++) s += v[i]! * qvec[i]!;
      return s;
    });
  };
  const features = async (query: string, ranked: readonly Passage[], qvec: Float32Array) => answerabilityFeatures(query, ranked, idf, await titleCos(qvec, ranked));
  let head = o.answerability ?? null;
  if (head && head.embedder !== o.embedder.id) {
    log?.warn({ head: head.embedder, embedder: o.embedder.id }, "answerability head was trained with another encoder: not used (retrain it)");
    head = null;
  }

  const startup: SyncStats[] = [];
  const kbDir = o.kbDir === undefined ? "kb" : o.kbDir;
  const syncKb = async (): Promise<SyncStats[]> => {
    if (kbDir && existsSync(kbDir)) {
      for (const { origin, docs } of loadPath(kbDir)) startup.push(await kb.sync(origin, docs));
      log?.info({ docs: kb.stats().docs, chunks: kb.stats().chunks, embedded: startup.reduce((a, s) => a + s.embedded, 0) }, "knowledge base ready");
    } else if (kbDir) {
      log?.warn({ kbDir }, "knowledge base folder not found; starting with the stored index only");
    }
    return startup;
  };
  const ready = syncKb();
  if (o.waitForSync === false) ready.catch((e) => log?.error({ err: (e as Error).message }, "knowledge base sync failed"));
  else await ready;
  if (existsSync(ticketLog)) {
    const latest = new Map<string, PastTicket>();
    for (const line of readFileSync(ticketLog, "utf8").split("\n")) {
      if (!line.trim()) continue;
      try {
        const t = JSON.parse(line) as PastTicket;
        latest.set(t.id, t);
      } catch {
        log?.warn({ file: ticketLog }, "skipping a torn line in the tickets log");
      }
    }
    await tickets.sync(TICKET_ORIGIN, [...latest.values()].map(ticketDoc));
  }

  const search = async (query: string, so: SearchOptions = {}): Promise<SearchResult> => {
    const cq = contextualQuery(query, so.turns ?? [], { messageId: so.messageId });
    const t0 = performance.now();
    const [qvec] = await o.embedder.embed([cq.query], "query");
    const t1 = performance.now();
    // One passage per document in fused order, not thresholded: the answerability features look at this list.
    const ranked = (c: Collection, k: number) => {
      const seen = new Map<string, number>();
      const out: Passage[] = [];
      for (const p of c.search(qvec!, cq.query)) {
        const n = seen.get(p.doc_id) ?? 0;
        if (n >= params.perDoc) continue;
        seen.set(p.doc_id, n + 1);
        out.push(p);
        if (out.length >= k) break;
      }
      return out;
    };
    const k = so.k ?? params.topK;
    // Customer-facing and internal documents are ranked separately: guidance never takes a citable slot.
    // Deep enough for the answerability features' background (documents below the first five).
    const all = ranked(kb, Math.max(k, DEEP_K) + GUIDANCE_K + 10);
    const kbAll = all.filter((p) => !isInternal(p));
    const kbRanked = kbAll.slice(0, Math.max(k, 5));
    const passages = kbRanked.filter((p) => so.all || p.score >= params.threshold).slice(0, k);
    // Guidance is looked for in the same window as before the list was deepened for the features.
    const guidance = all.slice(0, Math.max(k, 5) + GUIDANCE_K + 10).filter((p) => isInternal(p) && (so.all || p.score >= params.threshold)).slice(0, GUIDANCE_K);
    const similar = ranked(tickets, so.tickets ?? 2).filter((p) => so.all || p.score >= params.threshold);
    const t2 = performance.now();
    const best = Math.max(-1, ...passages.map((p) => p.score), ...similar.map((p) => p.score));
    const answerability = head && kbRanked.length ? { p: round(answerabilityScore(head, await features(cq.query, kbAll.slice(0, DEEP_K), qvec!))), threshold: head.threshold } : null;
    let reason: string | null = null;
    if (best < params.threshold) {
      const bestAny = Math.max(-1, ...kbRanked.map((p) => p.score));
      reason = guidance.length
        ? "only internal guidance matches this question: it is shown to the agent, never quoted to the customer"
        : `no customer-facing passage is similar enough (best cosine ${round(bestAny)} < ${params.threshold})`;
    } else if (answerability && answerability.p < answerability.threshold) {
      reason = `the best passages are related but do not seem to answer this (answerability ${answerability.p} < ${answerability.threshold})`;
    }
    return {
      query: cq.query,
      rewritten: cq.rewritten,
      abstain: reason !== null,
      threshold: params.threshold,
      answerability,
      abstain_reason: reason,
      passages,
      guidance,
      tickets: similar,
      timings_ms: { embed: round(t1 - t0), search: round(t2 - t1) },
    };
  };

  const knowledge: Knowledge = {
    search,
    async prefetch(qs) {
      await o.embedder.embed(qs.map((q) => contextualQuery(q.query, q.turns ?? [], { messageId: q.messageId }).query), "query");
    },
    async answerabilityFeatures(query, ranked, qvec) {
      return features(query, ranked, qvec ?? (await o.embedder.embed([query], "query"))[0]!);
    },
    startup,
    ready,
    async ingest(path, io = {}) {
      if (!existsSync(path)) throw new AppError("not_found", `nothing to ingest at ${path}`, { status: 404 });
      const all: SyncStats[] = [];
      for (const { origin, docs } of loadPath(path)) all.push(await kb.sync(origin, docs, { progress: io.progress }));
      return all.reduce((a, s) => ({
        docs: a.docs + s.docs, unchanged: a.unchanged + s.unchanged, added: a.added + s.added, updated: a.updated + s.updated,
        deleted: a.deleted + s.deleted, chunks: a.chunks + s.chunks, embedded: a.embedded + s.embedded, reused: a.reused + s.reused,
        removed: a.removed + s.removed, ms: a.ms + s.ms,
      }));
    },
    async addPastTicket(t) {
      validTicket(t);
      const rec: PastTicket = { id: t.id, question: t.question, answer: t.answer, conversation_id: t.conversation_id, resolved_at: t.resolved_at };
      // The log is the durable record; the index is derived from it and re-synced at open.
      appendFileSync(ticketLog, JSON.stringify(rec) + "\n");
      await tickets.upsert([ticketDoc(rec)]);
    },
    async removePastTickets(sel) {
      const ids = new Set(sel.ids ?? []);
      const before = sel.before ? Date.parse(sel.before) : Number.NaN;
      const drop = (t: PastTicket) => ids.has(t.id) || (!Number.isNaN(before) && Date.parse(t.resolved_at) < before);
      const latest = new Map<string, PastTicket>();
      const gone = new Set<string>();
      if (existsSync(ticketLog)) {
        for (const line of readFileSync(ticketLog, "utf8").split("\n")) {
          if (!line.trim()) continue;
          try {
            const t = JSON.parse(line) as PastTicket;
            if (drop(t)) gone.add(t.id);
            else latest.set(t.id, t);
          } catch {
            // A torn line holds no complete ticket; dropping it is what a rewrite should do.
          }
        }
      }
      for (const id of ids) gone.add(id);
      if (gone.size === 0) return 0;
      // Write-then-rename: a crash leaves either the old log or the new one, never a half-written file.
      const tmp = `${ticketLog}.tmp`;
      writeFileSync(tmp, [...latest.values()].map((t) => JSON.stringify(t) + "\n").join(""));
      renameSync(tmp, ticketLog);
      const n = await tickets.remove([...gone].map((id) => `ticket:${id}`));
      await tickets.flush();
      return n;
    },
    stats: () => ({ kb: kb.stats(), tickets: tickets.stats() }),
    async close() {
      await kb.flush();
      await tickets.flush();
    },
  };
  return knowledge;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
