import { loadEmbedder as loadShared, OnnxEmbedder, type Embedder } from "../../src/ml/index.ts";

/** Loads the shared ONNX encoder for the command-line tools (the service passes its own instance instead). */
export async function loadEmbedder(dir?: string): Promise<Embedder> {
  const opts = { maxBatch: 32 };
  return dir ? OnnxEmbedder.load(dir, opts) : loadShared({ modelsDir: "models", embedder: opts });
}
