import { join } from "node:path";
import type { Agent } from "../agents/types.ts";
import type { Embedder } from "./embedder.ts";
import { OnnxEmbedder, type EmbedderOptions } from "./onnx-embedder.ts";

export type { Embedder, EmbedKind } from "./embedder.ts";
export { OnnxEmbedder } from "./onnx-embedder.ts";

/** Where the triage models live and how the encoder runs. */
export interface TriageOptions {
  /** The repo's `models/` folder (or a copy with the same layout). */
  modelsDir: string;
  /** Sub-folder of modelsDir holding the encoder (default `embed/bge-small-en-v1.5`). */
  encoder?: string;
  embedder?: EmbedderOptions;
}

/** Loads the shared sentence encoder alone (retrieval-only processes and scripts). */
export function loadEmbedder(opts: TriageOptions): Promise<OnnxEmbedder> {
  return OnnxEmbedder.load(join(opts.modelsDir, opts.encoder ?? "embed/bge-small-en-v1.5"), opts.embedder);
}

/** Everything triage needs, loaded once: the shared embedder and the worker agents built on it. */
export interface Triage {
  embedder: Embedder;
  agents: Agent[];
  close(): Promise<void>;
}

/** Loads the encoder once and builds the triage agents over it. */
export async function loadTriage(opts: TriageOptions): Promise<Triage> {
  const embedder = await loadEmbedder(opts);
  return { embedder, agents: [], close: () => embedder.close() };
}
