/**
 * Worker-thread side of `WorkerPoolEngine`: one onnxruntime session of the shared encoder, so its runs hold this
 * thread instead of the process's event loop. Protocol (plain messages): `init` → `ready` | `init_failed`;
 * `encode` → `encoded` (one transferred Float32Array of n × dim) | `failed`.
 */
import { SessionEngine } from "./encoder-engine.ts";
import { AppError } from "../errors.ts";
import type { WorkerReply, WorkerRequest } from "./encoder-pool.ts";

declare const self: Worker;

let engine: SessionEngine | null = null;

function reply(msg: WorkerReply, transfer: Transferable[] = []): void {
  self.postMessage(msg, transfer);
}

function codeOf(e: unknown): string {
  return e instanceof AppError ? e.code : "embed_failed";
}

self.onmessage = async (ev: MessageEvent<WorkerRequest>) => {
  const msg = ev.data;
  if (msg.type === "init") {
    try {
      engine = await SessionEngine.open(msg.init);
      reply({ type: "ready" });
    } catch (e) {
      reply({ type: "init_failed", code: codeOf(e), message: (e as Error).message });
    }
    return;
  }
  if (!engine) {
    reply({ type: "failed", id: msg.id, code: "embedder_closed", message: "encoder worker has no session" });
    return;
  }
  try {
    const { vectors, runs } = await engine.encode(msg.ids);
    const dim = vectors[0]?.length ?? 0;
    const buf = new Float32Array(vectors.length * dim);
    vectors.forEach((v, i) => buf.set(v, i * dim));
    reply({ type: "encoded", id: msg.id, dim, buf, runs }, [buf.buffer]);
  } catch (e) {
    reply({ type: "failed", id: msg.id, code: codeOf(e), message: (e as Error).message });
  }
};
