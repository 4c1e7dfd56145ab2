import type { Logger } from "../obs/log.ts";
import type { EventBus, Subscription } from "./interface.ts";

/**
 * Follows a topic from its end with a consumer group of its own (one per process, so every replica sees every
 * record) and hands each record's parsed JSON to `onValue`; an unparseable record, or one whose handler throws, is logged and skipped.
 */
export function tailJson<T>(bus: EventBus, topic: string, groupId: string, onValue: (value: T) => void, log: Logger, component: string): Promise<Subscription> {
  return bus.subscribe({
    groupId,
    topics: [topic],
    fromBeginning: false,
    handler: async (records) => {
      for (const r of records) {
        let value: T;
        try {
          value = JSON.parse(r.value) as T;
        } catch {
          log.warn({ component, topic, offset: r.offset }, "unparseable record skipped");
          continue;
        }
        try {
          onValue(value);
        } catch (e) {
          // A consumer of a live feed must not stall the topic: the record is dropped for this process only.
          log.warn({ component, topic, offset: r.offset, err: (e as Error).message }, "record handler failed");
        }
      }
    },
  });
}
