/** Whether a text is a search query or a stored passage (some encoders prefix or instruct differently). */
export type EmbedKind = "query" | "passage";

/**
 * A sentence encoder. One instance per process is shared by triage and retrieval (never load a second copy).
 * Vectors are L2-normalised, so cosine similarity is a dot product.
 */
export interface Embedder {
  /** Stable identity of the model (name + sha256 prefix of the weights); indexes built with another id are refused. */
  readonly id: string;
  readonly dim: number;
  embed(texts: string[], kind?: EmbedKind): Promise<Float32Array[]>;
  close(): Promise<void>;
}
