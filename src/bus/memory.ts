import type { EventBus, InRecord, OutRecord, SubscribeOptions, Subscription } from "./interface.ts";

interface Topic {
  partitions: InRecord[][];
  waiters: Set<() => void>;
}

function partitionOf(key: string, n: number): number {
  let h = 2166136261;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619);
  return (h >>> 0) % n;
}

/**
 * Embedded event bus: an append-only log per topic partition with committed offsets per consumer group,
 * so it behaves like Kafka for one process (at-least-once, per-key order, redelivery after a failed batch).
 * Logs are trimmed once every group has committed past a record.
 */
export class MemoryBus implements EventBus {
  readonly kind = "memory";
  private readonly topics = new Map<string, Topic>();
  private readonly committed = new Map<string, Map<string, number[]>>();
  private readonly trimmed = new Map<string, number[]>();
  private readonly subs = new Set<{ stop(): Promise<void> }>();

  constructor(private readonly partitions = 4, private readonly maxBatch = 500, private readonly retryMs = 200) {}

  private topic(name: string): Topic {
    let t = this.topics.get(name);
    if (!t) {
      t = { partitions: Array.from({ length: this.partitions }, () => []), waiters: new Set() };
      this.topics.set(name, t);
      this.trimmed.set(name, new Array(this.partitions).fill(0));
    }
    return t;
  }

  async start(topics: string[]): Promise<void> {
    for (const t of topics) this.topic(t);
  }

  async publish(topicName: string, records: OutRecord[]): Promise<void> {
    const t = this.topic(topicName);
    const base = this.trimmed.get(topicName)!;
    for (const r of records) {
      const p = partitionOf(r.key, this.partitions);
      const log = t.partitions[p]!;
      log.push({ ...r, topic: topicName, partition: p, offset: String(base[p]! + log.length), timestamp: Date.now() });
    }
    if (!this.committed.get(topicName)?.size) for (let p = 0; p < this.partitions; p++) this.trim(topicName, p);
    for (const w of t.waiters) w();
  }

  async subscribe(opts: SubscribeOptions): Promise<Subscription> {
    let running = true;
    const loops: Promise<void>[] = [];
    for (const name of opts.topics) {
      const t = this.topic(name);
      let groups = this.committed.get(name);
      if (!groups) this.committed.set(name, (groups = new Map()));
      if (!groups.has(opts.groupId)) {
        const base = this.trimmed.get(name)!;
        groups.set(opts.groupId, opts.fromBeginning === false ? t.partitions.map((l, i) => base[i]! + l.length) : [...base]);
      }
      const offsets = groups.get(opts.groupId)!;
      for (let p = 0; p < this.partitions; p++) {
        loops.push(
          (async () => {
            while (running) {
              const base = this.trimmed.get(name)![p]!;
              const log = t.partitions[p]!;
              const start = offsets[p]! - base;
              if (start >= log.length) {
                await new Promise<void>((resolve) => {
                  const wake = () => {
                    t.waiters.delete(wake);
                    resolve();
                  };
                  t.waiters.add(wake);
                  setTimeout(wake, 100);
                });
                continue;
              }
              const batch = log.slice(start, start + this.maxBatch);
              try {
                await opts.handler(batch);
                offsets[p] = Number(batch[batch.length - 1]!.offset) + 1;
                this.trim(name, p);
              } catch {
                await Bun.sleep(this.retryMs);
              }
            }
          })(),
        );
      }
    }
    const sub = {
      stop: async () => {
        running = false;
        for (const name of opts.topics) for (const w of this.topic(name).waiters) w();
        await Promise.all(loops);
        this.subs.delete(sub);
      },
      lag: async () => {
        let lag = 0;
        for (const name of opts.topics) {
          const base = this.trimmed.get(name)!;
          const offs = this.committed.get(name)!.get(opts.groupId)!;
          this.topic(name).partitions.forEach((log, i) => (lag += base[i]! + log.length - offs[i]!));
        }
        return lag;
      },
    };
    this.subs.add(sub);
    return sub;
  }

  /** Drops records every group has committed; topics nobody consumes are kept bounded to the newest 10,000. */
  private trim(name: string, p: number): void {
    const groups = this.committed.get(name);
    const log = this.topic(name).partitions[p]!;
    const base = this.trimmed.get(name)!;
    const min = groups && groups.size ? Math.min(...[...groups.values()].map((o) => o[p]!)) : base[p]! + Math.max(0, log.length - 10_000);
    const drop = min - base[p]!;
    if (drop > 1000) {
      log.splice(0, drop);
      base[p] = min;
    }
  }

  async ping(): Promise<boolean> {
    return true;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.subs].map((s) => s.stop()));
  }
}
