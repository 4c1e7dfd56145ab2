import type { Config } from "../../config.ts";
import { GenerationQueue } from "../../llm/queue.ts";
import type { Generator } from "../../llm/types.ts";
import type { SessionStore } from "../../session/interface.ts";
import type { Agent } from "../types.ts";
import { createResponseAgent, type ReplyDraft } from "./agent.ts";
import type { ReplyStream } from "./stream.ts";
import type { SupersedeRegistry } from "./supersede.ts";

/**
 * The response agent configured from `config.llm` / `config.reply` (the generator comes from createGenerator), with
 * an urgency-ordered generation queue in front of the generator.
 */
export function responseAgentFromConfig(
  config: Pick<Config, "llm" | "reply">,
  deps: { generator: Generator | null; sessions?: SessionStore; stream?: ReplyStream; supersede?: SupersedeRegistry; queue?: GenerationQueue },
): Agent<ReplyDraft> {
  const r = config.reply;
  return createResponseAgent({
    ...deps,
    queue: deps.queue ?? new GenerationQueue({ concurrency: config.llm.concurrency, maxWaitMs: config.llm.queueMaxWaitMs }),
    policy: { enabled: r.autoSend.enabled, intents: r.autoSend.intents, minConfidence: r.autoSend.minConfidence, channels: r.autoSend.channels, blockedSentiments: ["negative", "very_negative", "frustrated", "angry"], blockedUrgencies: ["high", "critical", "urgent"] },
    options: {
      company: r.company,
      timeoutMs: r.timeoutMs,
      maxTokens: config.llm.maxTokens,
      temperature: config.llm.temperature,
      templateVersion: r.templateVersion,
      maxPassages: r.maxPassages,
      passageChars: r.passageChars,
      seeAlsoGap: r.seeAlsoGap,
      memory: { recentTurns: r.recentTurns, summaryBudgetChars: r.summaryBudgetChars },
    },
  });
}

export { createResponseAgent, type ReplyDraft } from "./agent.ts";
export { ReplyApprovals, type ReplyHandoff } from "./approval.ts";
export { draftReviewRoutes } from "./routes.ts";
export { BusReplyStream, relayReplyStream, ReplyStreamHub, type ReplyStreamEvent } from "./stream.ts";
export { SupersedeRegistry, watchNewMessages } from "./supersede.ts";
