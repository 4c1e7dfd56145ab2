import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { AppError } from "../errors.ts";
import type { CatalogueProduct } from "./entities.ts";
import { OnnxHead } from "./head.ts";
import { OnnxEmbedder, type EmbedderOptions } from "./onnx-embedder.ts";
import { rawEmbeddingText, TriageModel, type TriageConfig } from "./triage.ts";
import { pointerStamp, resolveHead } from "./versions.ts";

export type { Embedder, EmbedKind } from "./embedder.ts";
export { OnnxEmbedder } from "./onnx-embedder.ts";
export { extractEntities, redact, restore, PII_TYPES, type Entity, type EntityType, type Redaction } from "./entities.ts";
export type { Analysis, EntitiesOutput, IntentOutput, SentimentOutput, Urgency } from "./triage.ts";

/** Where the triage models live and how the encoder runs. */
export interface TriageOptions {
  /** The repo's `models/` folder (or a copy with the same layout). */
  modelsDir: string;
  /** Sub-folder of modelsDir holding the encoder (default `embed/bge-small-en-v1.5`). */
  encoder?: string;
  embedder?: EmbedderOptions;
  /** Product catalogue JSON (`{"products": [{id, name, aliases}]}`); default: the one named in models/triage.json. */
  cataloguePath?: string;
  /** Poll interval of the heads' `current` pointers (promotion / rollback without a restart); 0 = never. */
  watchMs?: number;
  /** What the heads embed: the cleaned words shared with retrieval (default) or the raw message (see triage.ts). */
  embedText?: "cleaned" | "raw";
  /** Called when a watched head is swapped in, or when loading a promoted head failed (the old one stays). */
  onSwap?: (e: { task: "intent" | "sentiment"; version: string; error?: string }) => void;
}

/** Loads the shared sentence encoder alone (retrieval-only processes and scripts). */
export function loadEmbedder(opts: TriageOptions): Promise<OnnxEmbedder> {
  return OnnxEmbedder.load(join(opts.modelsDir, opts.encoder ?? "embed/bge-small-en-v1.5"), opts.embedder);
}

/** Everything triage needs, loaded once: the shared embedder and the model the triage workers (src/agents/triage) run. */
export interface Triage {
  /** The one encoder instance of the process: hand it to retrieval too. */
  embedder: OnnxEmbedder;
  model: TriageModel;
  /** Releases the heads and the embedder. */
  close(): Promise<void>;
}

async function readJson<T>(path: string, what: string): Promise<T> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as T;
  } catch (e) {
    throw new AppError("model_missing", `${what} unreadable at ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/** Loads the encoder once and the triage model over it; fails fast if a model file is missing or stale. */
export async function loadTriage(opts: TriageOptions): Promise<Triage> {
  const embedder = await loadEmbedder(opts);
  try {
    const config = await readJson<TriageConfig>(join(opts.modelsDir, "triage.json"), "triage config");
    const catalogue = await readJson<{ products: CatalogueProduct[] }>(opts.cataloguePath ?? join(opts.modelsDir, config.catalogue), "product catalogue");
    const head = (name: string) => OnnxHead.load(join(opts.modelsDir, name), embedder);
    const angerDir = join(opts.modelsDir, "anger");
    const intentV = resolveHead(join(opts.modelsDir, "intent"));
    const sentimentV = resolveHead(join(opts.modelsDir, "sentiment"));
    const [intent, sentiment, anger] = await Promise.all([
      OnnxHead.load(intentV.dir, embedder),
      OnnxHead.load(sentimentV.dir, embedder),
      existsSync(angerDir) ? head("anger") : Promise.resolve(null),
    ]);
    const rules: TriageConfig = { ...config, negative_question_threshold: config.negative_question_threshold ?? 0.9, anger_with_cue_threshold: config.anger_with_cue_threshold ?? 0.6 };
    const model = new TriageModel(embedder, intent, sentiment, anger, rules, catalogue.products, { intent: intentV.version, sentiment: sentimentV.version });
    if (opts.embedText === "raw") model.embedTextOf = rawEmbeddingText;
    const stop = opts.watchMs ? watchHeads(opts.modelsDir, model, embedder, opts.watchMs, opts.onSwap) : () => undefined;
    return {
      embedder,
      model,
      async close() {
        stop();
        await model.close();
        await embedder.close();
      },
    };
  } catch (e) {
    await embedder.close();
    throw e;
  }
}

/** Polls each head's `current` pointer (mtime + contents) and swaps in the named version when it changes. */
function watchHeads(modelsDir: string, model: TriageModel, embedder: OnnxEmbedder, everyMs: number, onSwap?: TriageOptions["onSwap"]): () => void {
  const tasks = ["intent", "sentiment"] as const;
  const seen = Object.fromEntries(tasks.map((t) => [t, pointerStamp(join(modelsDir, t))])) as Record<(typeof tasks)[number], string>;
  let busy = false;
  const timer = setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      for (const task of tasks) {
        const dir = join(modelsDir, task);
        const stamp = pointerStamp(dir);
        if (stamp === seen[task]) continue;
        seen[task] = stamp;
        const v = resolveHead(dir);
        if (v.version === model.versions[task]) continue;
        try {
          model.swapHead(task, await OnnxHead.load(v.dir, embedder), v.version);
          onSwap?.({ task, version: v.version });
        } catch (e) {
          onSwap?.({ task, version: v.version, error: (e as Error).message });
        }
      }
    } finally {
      busy = false;
    }
  }, everyMs);
  timer.unref?.();
  return () => clearInterval(timer);
}
