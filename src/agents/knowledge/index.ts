import { AppError, err, ok, toAppError, type Result } from "../../errors.ts";
import type { Passage } from "../../rag/types.ts";
import type { SearchOptions, SearchResult } from "../../rag/index.ts";
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
}

/** Output of the knowledge worker. */
export interface KnowledgeOutput {
  /** The query that was searched (the message, or the message with the recent customer turns for a follow-up). */
  query: string;
  rewritten: boolean;
  /** True when nothing clears the relevance threshold: the response agent must not pretend to know. */
  abstain: boolean;
  threshold: number;
  /** P(the KB answers this) from the answerability head and its cut-off; null when no head is loaded. */
  answerability: { p: number; threshold: number } | null;
  passages: KnowledgePassage[];
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
  };
}

/**
 * The knowledge worker: retrieves KB passages and similar past tickets for a message, folding in the recent
 * customer turns of the session when the message is a follow-up, and says explicitly when it has nothing.
 */
export function createKnowledgeAgent(deps: { search: (q: string, o?: SearchOptions) => Promise<SearchResult>; timeoutMs?: number }): Agent<KnowledgeOutput> {
  return {
    name: "knowledge",
    stage: 0,
    timeoutMs: deps.timeoutMs ?? 3000,
    async run(input, ctx): Promise<Result<KnowledgeOutput, AppError>> {
      if (ctx.signal.aborted) return err(new AppError("aborted", "knowledge search aborted", { status: 504, retriable: true }));
      try {
        const r = await deps.search(input.message.text, { turns: ctx.session.turns, messageId: input.id });
        return ok({
          query: r.query,
          rewritten: r.rewritten,
          abstain: r.abstain,
          threshold: r.threshold,
          answerability: r.answerability,
          passages: r.passages.map(view),
          similar_tickets: r.tickets.map((p) => ({ ...view(p), ticket_id: p.meta?.ticket_id, resolved_at: p.meta?.resolved_at })),
          timings_ms: r.timings_ms,
        });
      } catch (e) {
        return err(toAppError(e, "knowledge_failed"));
      }
    },
  };
}
