import { AppError, err, ok, toAppError, type Result } from "../../errors.ts";
import type { Analysis, EntitiesOutput, IntentOutput, SentimentOutput, TriageModel } from "../../ml/triage.ts";
import type { CustomerMessage } from "../../schema/message.ts";
import type { Agent, AgentContext } from "../types.ts";

/** Runs the shared analysis for a message (computed once per message id, whichever worker asks first). */
async function analysis(model: TriageModel, msg: CustomerMessage, ctx: AgentContext): Promise<Result<Analysis, AppError>> {
  if (ctx.signal.aborted) return err(new AppError("worker_aborted", "aborted before start", { status: 504, retriable: true }));
  try {
    return ok(await model.analyze({ id: msg.id, text: msg.message.text, receivedAt: msg.metadata.received_at, history: ctx.session.turns }));
  } catch (e) {
    return err(toAppError(e, "triage_failed"));
  }
}

/** Intent worker: top-k intents with calibrated probabilities, "unknown" below the dev-chosen threshold. */
export function intentAgent(model: TriageModel): Agent<IntentOutput> {
  return {
    name: "intent",
    stage: 0,
    timeoutMs: 2000,
    async run(msg, ctx) {
      const a = await analysis(model, msg, ctx);
      return a.ok ? ok(a.value.intent) : a;
    },
    // The batch's texts in one encoder call (sorted by length into padded sub-batches); the analyses then hit the
    // embedder's cache. The intent worker does it for the three triage workers, and the knowledge worker's search of
    // a self-contained message hits the same vectors: one embedding per message.
    async prepare(batch) {
      await model.embedder.embed(batch.map((b) => model.embedTextOf(b.msg.message.text)), "query");
    },
  };
}

/** Sentiment worker: positive / neutral / negative / frustrated plus urgency low / normal / high, with reasons. */
export function sentimentAgent(model: TriageModel): Agent<SentimentOutput> {
  return {
    name: "sentiment",
    stage: 0,
    timeoutMs: 2000,
    async run(msg, ctx) {
      const a = await analysis(model, msg, ctx);
      return a.ok ? ok(a.value.sentiment) : a;
    },
  };
}

/** Entity worker: deterministic, validated extractors; sensitive values masked, offsets for redaction. */
export function entitiesAgent(model: TriageModel): Agent<EntitiesOutput> {
  return {
    name: "entities",
    stage: 0,
    timeoutMs: 1000,
    async run(msg) {
      try {
        return ok(model.entities(msg.message.text, msg.metadata.received_at));
      } catch (e) {
        return err(toAppError(e, "entities_failed"));
      }
    },
  };
}

/** The three triage workers over one model. */
export function triageAgents(model: TriageModel): Agent[] {
  return [intentAgent(model), sentimentAgent(model), entitiesAgent(model)];
}
