import type { Embedder } from "../ml/embedder.ts";

/** A document as read from a source (Markdown/HTML/text file or a JSONL record), before chunking. */
export interface SourceDoc {
  /** Stable id: the path relative to the ingested folder's parent (without extension) or the JSONL `id`. */
  id: string;
  title: string;
  /** Body in the format named by `format`. */
  text: string;
  format: "markdown" | "html" | "text";
  /** Where it came from (relative file path, or `file.jsonl#id`) for citations. */
  source: string;
  url?: string;
  updated_at?: string;
  /** The folder or file this document was ingested from; a re-ingest of that origin deletes documents no longer there. */
  origin: string;
  /** Free-form extra metadata carried onto every chunk (e.g. the gold `thread_id` of an eval KB). */
  meta?: Record<string, string>;
}

/** One retrievable unit of a document. */
export interface Chunk {
  /** `${doc_id}#${section-slug}:${n}`: stable while the section's heading path and position within it do not change. */
  id: string;
  doc_id: string;
  title: string;
  /** Heading path below the document title, e.g. "Cards > Lost or stolen card". Empty for the lead section. */
  section: string;
  text: string;
  /** sha256 prefix of the text that is embedded (title + section + text): same hash, same vector. */
  hash: string;
  source: string;
  url?: string;
  updated_at?: string;
  meta?: Record<string, string>;
}

/** A chunk as stored in a collection, with its label in the vector index. */
export interface StoredChunk extends Chunk {
  label: number;
}

/** Which retriever surfaced a passage. */
export type Retriever = "dense" | "bm25";

/** One search result. */
export interface Passage {
  chunk_id: string;
  doc_id: string;
  collection: string;
  title: string;
  section: string;
  text: string;
  source: string;
  url?: string;
  updated_at?: string;
  meta?: Record<string, string>;
  /** Relevance used for the abstain threshold: cosine similarity between the query and the passage (0..1 in practice). */
  score: number;
  /** Fused rank score (reciprocal-rank fusion) that orders the list. */
  fused: number;
  retrievers: Retriever[];
  ranks: Partial<Record<Retriever, number>>;
  bm25?: number;
}

/** Retrieval and index parameters (HNSW, chunking, fusion, abstain threshold); every field has a tuned default. */
export interface RagParams {
  /** HNSW graph degree. */
  M: number;
  efConstruction: number;
  efSearch: number;
  /** Characters per chunk (about 4 characters a token). */
  chunkChars: number;
  overlapChars: number;
  /** How many candidates each retriever contributes to fusion. */
  candidates: number;
  /** Reciprocal-rank-fusion constant. */
  rrfK: number;
  /** Weight of BM25 ranks relative to dense ranks in fusion (0 = dense only). */
  bm25Weight: number;
  /** Passages returned by default. */
  topK: number;
  /** At most this many passages per document in a result list. */
  perDoc: number;
  /** Below this cosine similarity of the best passage the agent abstains. */
  threshold: number;
}

/** Defaults tuned on the StackFAQ dev queries (see docs/retrieval.md). */
export const DEFAULT_PARAMS: RagParams = {
  M: 16,
  efConstruction: 200,
  efSearch: 64,
  chunkChars: 1200,
  overlapChars: 200,
  candidates: 50,
  rrfK: 60,
  bm25Weight: 0.1,
  topK: 5,
  perDoc: 1,
  threshold: 0.62,
};

export type { Embedder };
