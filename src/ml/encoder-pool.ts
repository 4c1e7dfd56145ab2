import { AppError } from "../errors.ts";
import type { Encoded, EncoderEngine, EncoderRun, SessionInit } from "./encoder-engine.ts";

/** Messages to an encoder worker. */
export type WorkerRequest = { type: "init"; init: SessionInit } | { type: "encode"; id: number; ids: number[][] };
/** Messages from an encoder worker. */
export type WorkerReply =
  | { type: "ready" }
  | { type: "init_failed"; code: string; message: string }
  | { type: "encoded"; id: number; dim: number; buf: Float32Array; runs: EncoderRun[] }
  | { type: "failed"; id: number; code: string; message: string };

interface Job {
  id: number;
  ids: number[][];
  /** Workers that died while running it: one retry on a fresh worker, then the job fails (a poison input). */
  crashes: number;
  resolve: (e: Encoded) => void;
  reject: (e: unknown) => void;
}

/** Bun's Worker: `ref`/`unref` decide whether it keeps the process alive. */
type BunWorker = Worker & { ref(): void; unref(): void };

interface Slot {
  worker: BunWorker;
  ready: boolean;
  job: Job | null;
}

const WORKER_URL = new URL("./encoder-worker.ts", import.meta.url).href;

/**
 * The shared encoder on N worker threads, one single-threaded session each. The process's event loop stays free
 * while texts are encoded (Kafka, HTTP and the database keep moving), and two one-thread sessions on two cores
 * measured ~200 texts/s against ~140 for one two-thread session on the event loop (docs/benchmarks.md, issue 15).
 * A worker that dies is replaced and its job runs again on the next free worker (once: a job that kills two workers
 * fails, retriable); jobs wait for the next free worker.
 */
export class WorkerPoolEngine implements EncoderEngine {
  readonly parallel: number;
  private readonly slots: Slot[] = [];
  private readonly waiting: Job[] = [];
  private nextId = 1;
  private closed = false;

  private constructor(
    private readonly init: SessionInit,
    size: number,
  ) {
    this.parallel = size;
  }

  /** Starts `size` workers and waits until every one has its session; fails with the first worker's load error. */
  static async open(init: SessionInit, size: number): Promise<WorkerPoolEngine> {
    const pool = new WorkerPoolEngine(init, size);
    try {
      await Promise.all(Array.from({ length: size }, () => pool.spawn()));
    } catch (e) {
      await pool.release();
      throw e;
    }
    return pool;
  }

  encode(ids: number[][]): Promise<Encoded> {
    if (this.closed) return Promise.reject(new AppError("embedder_closed", "embedder is closed", { status: 503 }));
    if (ids.length === 0) return Promise.resolve({ vectors: [], runs: [] });
    return new Promise<Encoded>((resolve, reject) => {
      this.waiting.push({ id: this.nextId++, ids, crashes: 0, resolve, reject });
      this.pump();
    });
  }

  /** Terminates the workers; queued and running jobs are rejected. */
  async release(): Promise<void> {
    this.closed = true;
    const closedError = new AppError("embedder_closed", "embedder is closed", { status: 503 });
    for (const job of this.waiting.splice(0)) job.reject(closedError);
    for (const slot of this.slots.splice(0)) {
      slot.job?.reject(closedError);
      slot.job = null;
      slot.worker.terminate();
    }
  }

  private spawn(): Promise<void> {
    const worker = new Worker(WORKER_URL) as BunWorker;
    const slot: Slot = { worker, ready: false, job: null };
    this.slots.push(slot);
    worker.unref();
    return new Promise<void>((resolve, reject) => {
      worker.onmessage = (ev: MessageEvent<WorkerReply>) => {
        const msg = ev.data;
        if (msg.type === "ready") {
          slot.ready = true;
          resolve();
          this.pump();
        } else if (msg.type === "init_failed") {
          reject(new AppError(msg.code, msg.message));
          this.drop(slot);
        } else this.settle(slot, msg);
      };
      worker.onerror = (ev: ErrorEvent) => {
        const error = new AppError("embed_failed", `encoder worker failed: ${ev.message}`, { retriable: true });
        if (!slot.ready) reject(error);
        this.replace(slot, error);
      };
      worker.addEventListener("close", () => {
        if (!this.closed && this.slots.includes(slot)) this.replace(slot, new AppError("embed_failed", "encoder worker exited", { retriable: true }));
      });
      worker.postMessage({ type: "init", init: this.init } satisfies WorkerRequest);
    });
  }

  private settle(slot: Slot, msg: WorkerReply): void {
    const job = slot.job;
    if (!job || !("id" in msg) || msg.id !== job.id) return;
    slot.job = null;
    slot.worker.unref();
    if (msg.type === "encoded") {
      // Own copies: a cached vector must not keep its whole batch's buffer alive.
      const vectors = Array.from({ length: job.ids.length }, (_, i) => msg.buf.slice(i * msg.dim, (i + 1) * msg.dim));
      job.resolve({ vectors, runs: msg.runs });
    } else if (msg.type === "failed") {
      job.reject(new AppError(msg.code, msg.message, { retriable: msg.code === "embed_failed" }));
    }
    this.pump();
  }

  private pump(): void {
    for (const slot of this.slots) {
      if (this.waiting.length === 0) return;
      if (!slot.ready || slot.job) continue;
      const job = this.waiting.shift()!;
      slot.job = job;
      // A busy worker keeps the process alive until its answer arrives; an idle one does not.
      slot.worker.ref();
      slot.worker.postMessage({ type: "encode", id: job.id, ids: job.ids } satisfies WorkerRequest);
    }
  }

  private drop(slot: Slot): void {
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
    slot.worker.terminate();
  }

  /** A crashed worker: its job goes back to the queue (or fails), a new worker takes its place unless the pool is closing. */
  private replace(slot: Slot, error: AppError): void {
    if (!this.slots.includes(slot)) return;
    const job = slot.job;
    slot.job = null;
    if (job && ++job.crashes < 2 && !this.closed) this.waiting.unshift(job);
    else job?.reject(error);
    this.drop(slot);
    if (this.closed) return;
    this.pump();
    this.spawn().catch(() => {
      // The weights loaded a moment ago; if they no longer do, the remaining workers carry on and the jobs wait.
      if (this.slots.length === 0) for (const job of this.waiting.splice(0)) job.reject(error);
    });
  }
}
