import type { AppError, Result } from "../errors.ts";
import type { Logger } from "../obs/log.ts";
import type { CustomerMessage } from "../schema/message.ts";
import type { Session } from "../session/interface.ts";

/** What every worker gets besides the message: the conversation so far and a cancellation signal. */
export interface AgentContext {
  conversationId: string;
  session: Session;
  /** Outputs of workers that ran in an earlier stage (e.g. the response agent sees intent and knowledge). */
  previous: Readonly<Record<string, unknown>>;
  signal: AbortSignal;
  log: Logger;
}

/**
 * A worker agent declared as data. `stage` orders dependent workers: all workers of one stage run in parallel,
 * and a later stage sees the earlier stages' outputs in `ctx.previous`.
 */
export interface Agent<Output = unknown> {
  readonly name: string;
  readonly stage?: number;
  /** Overrides the master's default per-worker timeout. */
  readonly timeoutMs?: number;
  run(input: CustomerMessage, ctx: AgentContext): Promise<Result<Output, AppError>>;
  /**
   * Optional batch warm-up before the master runs the messages of a Kafka batch one by one: e.g. one encoder run over
   * every text instead of one per message. Best effort: a failure here is ignored and each message's `run` still
   * decides (and fails) on its own, so one bad message cannot stall the others.
   */
  prepare?(batch: readonly PrepareItem[]): Promise<void>;
}

/** A message of a batch with its conversation's session as loaded before the batch (for `Agent.prepare`). */
export interface PrepareItem {
  msg: CustomerMessage;
  session: Session;
}

/** The result contract lives in src/schema/events.ts; agents keep importing it from here. */
export type { ResultEvent, WorkerFailure } from "../schema/events.ts";
