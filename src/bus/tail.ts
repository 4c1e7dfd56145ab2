import type { AppError, Result } from "../errors.ts";
import type { Logger } from "../obs/log.ts";
import type { EventBus, Subscription } from "./interface.ts";

/** Checks one parsed record against its topic's contract (src/schema/): the typed value, or why it breaks it. */
export type RecordCheck<T> = (value: unknown) => Result<T, AppError>;

/**
 * Follows a topic from its end with a consumer group of its own (one per process, so every replica sees every
 * record) and hands each record, parsed and checked against its contract, to `onValue`. A record that is not JSON,
 * breaks the contract, or whose handler throws is counted, logged (offset and rule, never the content) and skipped:
 * a live feed must not stall on one bad record. `invalid()` reports how many were skipped.
 */
export async function tailJson<T>(bus: EventBus, topic: string, groupId: string, check: RecordCheck<T>, onValue: (value: T) => void, log: Logger, component: string): Promise<Subscription & { invalid(): number }> {
  let invalid = 0;
  const sub = await bus.subscribe({
    groupId,
    topics: [topic],
    fromBeginning: false,
    handler: async (records) => {
      for (const r of records) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(r.value);
        } catch {
          invalid++;
          log.warn({ component, topic, offset: r.offset, invalid }, "unparseable record skipped");
          continue;
        }
        const value = check(parsed);
        if (!value.ok) {
          invalid++;
          log.warn({ component, topic, offset: r.offset, code: value.error.code, err: value.error.message, invalid }, "record breaking its contract skipped");
          continue;
        }
        try {
          onValue(value.value);
        } catch (e) {
          // A consumer of a live feed must not stall the topic: the record is dropped for this process only.
          log.warn({ component, topic, offset: r.offset, err: (e as Error).message }, "record handler failed");
        }
      }
    },
  });
  return Object.assign(sub, { invalid: () => invalid });
}
