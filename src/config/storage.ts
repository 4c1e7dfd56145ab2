import type { EnvReader } from "./reader.ts";
import type { Config } from "./types.ts";

/** REDIS_URL, DATABASE_URL, PGLITE_DIR, MODELS_*, RAG_*: where state, models and the knowledge index live. */
export function storageSection(r: EnvReader): Pick<Config, "redisUrl" | "databaseUrl" | "pgliteDir" | "models" | "rag"> {
  const kbDir = r.str("RAG_KB_DIR", "kb");
  const head = r.str("RAG_ANSWERABILITY_HEAD", "models/answerability/default.json");
  return {
    redisUrl: r.url("REDIS_URL", ["redis:", "rediss:"]),
    databaseUrl: r.url("DATABASE_URL", ["postgres:", "postgresql:"]),
    pgliteDir: r.env.PGLITE_DIR || null,
    models: {
      dir: r.str("MODELS_DIR", "models"), pollMs: r.num("MODELS_POLL_MS", 5000, 0, 3_600_000), encoderWorkers: r.int("ENCODER_WORKERS", 2, 0, 64),
      encoderThreads: r.env.ENCODER_THREADS ? r.int("ENCODER_THREADS", 1, 1, 64) : null,
      embedText: r.oneOf("TRIAGE_EMBED_TEXT", "cleaned", ["cleaned", "raw"] as const),
    },
    rag: {
      dataDir: r.str("RAG_DATA_DIR", ".data/index"),
      kbDir: kbDir === "none" ? null : kbDir,
      M: r.int("RAG_HNSW_M", 16, 4, 128),
      efConstruction: r.int("RAG_HNSW_EF_CONSTRUCTION", 200, 16, 2000),
      efSearch: r.int("RAG_HNSW_EF_SEARCH", 64, 10, 2000),
      threshold: r.num("RAG_ABSTAIN_THRESHOLD", 0.62, -1, 1),
      answerabilityHead: head === "none" ? null : head,
    },
  };
}
