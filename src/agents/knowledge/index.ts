import { AppError, err, ok, toAppError, type Result } from "../../errors.ts";
import { prepareQuery, type PreparedQuery } from "../../rag/query.ts";
import type { Session, Turn } from "../../session/interface.ts";
import type { Passage } from "../../rag/types.ts";
import type { Knowledge, SearchOptions, SearchResult } from "../../rag/index.ts";
import type { Agent } from "../types.ts";

/** One passage as handed to the response agent: enough to quote and cite it. */
export interface KnowledgePassage {
  collection: string;
  doc_id: string;
  chunk_id: string;
  title: string;
  section: string;
  source: string;
  url?: string;
  text: string;
  /** Cosine similarity between the (possibly rewritten) query and the passage. */
  score: number;
  /** Which retrievers found it: "dense" (HNSW), "bm25", or both. */
  retrievers: string[];
  /** "internal" for agent guidance (never quoted to a customer); "customer" otherwise. */
  audience: "customer" | "internal";
}

/** Output of the knowledge worker. */
export interface KnowledgeOutput {
  /** The query that was searched: the customer's words (see src/rag/query.ts), with recent turns for a follow-up. */
  query: string;
  /** The customer's words with greetings, signatures, quoted history... removed (line breaks kept), for the prompt. */
  question: string;
  rewritten: boolean;
  /** True when the KB has no customer-facing answer: the response agent must not pretend to know. */
  abstain: boolean;
  /** Why it abstained, for the agent; null when it did not. */
  abstain_reason: string | null;
  threshold: number;
  /** P(the KB answers this) from the answerability head and its cut-off; null when no head is loaded. */
  answerability: { p: number; threshold: number } | null;
  /** Customer-facing passages: the only ones a reply may quote or cite. */
  passages: KnowledgePassage[];
  /** Internal guidance for the agent (documents marked `audience: internal`); never part of a customer reply. */
  guidance: KnowledgePassage[];
  /** Similar resolved tickets with their approved replies. */
  similar_tickets: (KnowledgePassage & { ticket_id?: string; resolved_at?: string })[];
  timings_ms: { embed: number; search: number };
}

function view(p: Passage): KnowledgePassage {
  return {
    collection: p.collection,
    doc_id: p.doc_id,
    chunk_id: p.chunk_id,
    title: p.title,
    section: p.section,
    source: p.source,
    ...(p.url ? { url: p.url } : {}),
    text: p.text,
    score: p.score,
    retrievers: p.retrievers,
    audience: p.meta?.audience === "internal" ? "internal" : "customer",
  };
}

/**
 * The knowledge worker: retrieves KB passages and similar past tickets for the customer's own words (greetings,
 * signatures and quoted history removed), folding in the recent customer turns of the session when the message is a
 * follow-up, keeps internal guidance apart from citable passages, and says explicitly (and why) when it has nothing.
 */
export function createKnowledgeAgent(deps: {
  search: (q: string, o?: SearchOptions) => Promise<SearchResult>;
  /** Embeds the search queries of a batch in one encoder call (the searches then hit the embedder's cache). */
  prefetch?: (queries: { query: string; turns: Turn[]; messageId: string }[]) => Promise<void>;
  timeoutMs?: number;
}): Agent<KnowledgeOutput> {
  // Session turns are cleaned again for every later message of their conversation: remember recent cleanings.
  const prepared = new Map<string, PreparedQuery>();
  const prep = (text: string): PreparedQuery => {
    let p = prepared.get(text);
    if (!p) {
      p = prepareQuery(text);
      prepared.set(text, p);
      if (prepared.size > 4096) prepared.delete(prepared.keys().next().value!);
    }
    return p;
  };
  const turnsOf = (session: Session): Turn[] => session.turns.map((t) => (t.role === "customer" ? { ...t, text: prep(t.text).query } : t));
  return {
    name: "knowledge",
    stage: 0,
    timeoutMs: deps.timeoutMs ?? 3000,
    async prepare(batch) {
      if (!deps.prefetch) return;
      const queries: { query: string; turns: Turn[]; messageId: string }[] = [];
      for (const { msg, session } of batch) {
        const p = prep(msg.message.text);
        if (!p.empty) queries.push({ query: p.query, turns: turnsOf(session), messageId: msg.id });
      }
      if (queries.length) await deps.prefetch(queries);
    },
    async run(input, ctx): Promise<Result<KnowledgeOutput, AppError>> {
      if (ctx.signal.aborted) return err(new AppError("aborted", "knowledge search aborted", { status: 504, retriable: true }));
      try {
        const prepared = prep(input.message.text);
        if (prepared.empty) {
          // Nothing but a greeting, thanks or a signature: searching it would only match noise.
          return ok({
            query: "", question: "", rewritten: false, abstain: true, threshold: 0, answerability: null,
            abstain_reason: "the message holds no question (only a greeting, thanks or a signature)",
            passages: [], guidance: [], similar_tickets: [], timings_ms: { embed: 0, search: 0 },
          });
        }
        const r = await deps.search(prepared.query, { turns: turnsOf(ctx.session), messageId: input.id });
        return ok({
          query: r.query,
          question: prepared.question,
          rewritten: r.rewritten,
          abstain: r.abstain,
          abstain_reason: r.abstain_reason,
          threshold: r.threshold,
          answerability: r.answerability,
          // Customer-facing only, whatever the search returned: internal text must never become citable.
          passages: r.passages.filter((p) => p.meta?.audience !== "internal").map(view),
          guidance: (r.guidance ?? []).map(view),
          similar_tickets: r.tickets.map((p) => ({ ...view(p), ticket_id: p.meta?.ticket_id, resolved_at: p.meta?.resolved_at })),
          timings_ms: r.timings_ms,
        });
      } catch (e) {
        return err(toAppError(e, "knowledge_failed"));
      }
    },
  };
}

/** The knowledge worker over an opened knowledge service (src/rag): its search, with batch query prefetch. */
export function knowledgeAgent(k: Pick<Knowledge, "search" | "prefetch">, opts: { timeoutMs?: number } = {}): Agent<KnowledgeOutput> {
  return createKnowledgeAgent({ search: (q, o) => k.search(q, o), prefetch: (qs) => k.prefetch(qs), timeoutMs: opts.timeoutMs });
}
