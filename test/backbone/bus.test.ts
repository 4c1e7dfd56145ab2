import { afterAll, describe, expect, test } from "bun:test";
import { KafkaBus } from "../../src/bus/kafka.ts";
import type { EventBus, InRecord } from "../../src/bus/interface.ts";
import { MemoryBus } from "../../src/bus/memory.ts";
import { describeWith, rand, services, testConfig, testLog, waitFor } from "../support/env.ts";

/** The contract both buses pass: per-key order, consumer groups, redelivery of a failed batch, commit on success. */
function contract(make: () => EventBus) {
  const buses: EventBus[] = [];
  const open = async (topics: string[]) => {
    const b = make();
    buses.push(b);
    await b.start(topics);
    return b;
  };
  afterAll(async () => {
    await Promise.all(buses.map((b) => b.stop()));
  });

  test("produce + consume through a consumer group keeps per-key order", async () => {
    const topic = `t-${rand()}`;
    const bus = await open([topic]);
    const got: InRecord[] = [];
    const sub = await bus.subscribe({ groupId: `g-${rand()}`, topics: [topic], handler: async (rs) => void got.push(...rs) });
    await bus.publish(topic, Array.from({ length: 20 }, (_, i) => ({ key: `k${i % 3}`, value: String(i), headers: { n: String(i) } })));
    await waitFor(() => got.length >= 20, 20_000, "20 records");
    for (const k of ["k0", "k1", "k2"]) {
      const vals = got.filter((r) => r.key === k).map((r) => Number(r.value));
      expect(vals).toEqual([...vals].sort((a, b) => a - b));
    }
    expect(got.find((r) => r.value === "5")?.headers?.n).toBe("5");
    await sub.stop();
  });

  test("a failed batch is redelivered; a committed one is not", async () => {
    const topic = `t-${rand()}`;
    const group = `g-${rand()}`;
    const bus = await open([topic]);
    let calls = 0;
    const seen: string[] = [];
    const sub = await bus.subscribe({
      groupId: group,
      topics: [topic],
      handler: async (rs) => {
        calls++;
        if (calls === 1) throw new Error("simulated crash before commit");
        seen.push(...rs.map((r) => r.value));
      },
    });
    await bus.publish(topic, [{ key: "a", value: "one" }]);
    await waitFor(() => seen.includes("one"), 30_000, "redelivery");
    await sub.stop();
    // A new member of the same group starts after the committed offset: nothing is delivered twice.
    const again: string[] = [];
    const sub2 = await bus.subscribe({ groupId: group, topics: [topic], handler: async (rs) => void again.push(...rs.map((r) => r.value)) });
    await bus.publish(topic, [{ key: "a", value: "two" }]);
    await waitFor(() => again.includes("two"), 30_000, "second record");
    expect(again).toEqual(["two"]);
    await sub2.stop();
  });
}

describe("MemoryBus (embedded)", () => contract(() => new MemoryBus(4, 100, 10)));
describeWith("kafka", "KafkaBus (real broker)", () => {
  contract(() => new KafkaBus({ ...testConfig({ KAFKA_BROKERS: services.kafka, KAFKA_PARTITIONS: "3" }).kafka!, clientId: `test-${rand()}` }, testLog));

  test("a fetched batch is handled in slices of KAFKA_MAX_BATCH_RECORDS, each committed: a crash redelivers only the slice in hand", async () => {
    const topic = `t-${rand()}`;
    const group = `g-${rand()}`;
    const opts = { ...testConfig({ KAFKA_BROKERS: services.kafka, KAFKA_PARTITIONS: "1", KAFKA_MAX_BATCH_RECORDS: "4" }).kafka!, clientId: `test-${rand()}` };
    expect(opts.maxBatchRecords).toBe(4);
    const bus = new KafkaBus(opts, testLog);
    await bus.start([topic]);
    try {
      // All 10 records are on the partition before anyone consumes, so they come in one fetch.
      await bus.publish(topic, Array.from({ length: 10 }, (_, i) => ({ key: "k", value: String(i) })));
      const slices: string[][] = [];
      let failed = false;
      const sub = await bus.subscribe({
        groupId: group,
        topics: [topic],
        handler: async (rs) => {
          // The third slice (records 8, 9) fails once, as a crash would: 0-7 are committed already.
          if (rs[0]!.value === "8" && !failed) {
            failed = true;
            throw new Error("simulated crash in the third slice");
          }
          slices.push(rs.map((r) => r.value));
        },
      });
      await waitFor(() => slices.flat().includes("9"), 30_000, "all ten records");
      await sub.stop();
      expect(slices.every((x) => x.length <= 4)).toBe(true);
      expect(slices.flat()).toEqual(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
      // Nothing is left uncommitted: a new member of the group gets only what is published next.
      const again: string[] = [];
      const sub2 = await bus.subscribe({ groupId: group, topics: [topic], handler: async (rs) => void again.push(...rs.map((r) => r.value)) });
      await bus.publish(topic, [{ key: "k", value: "10" }]);
      await waitFor(() => again.includes("10"), 30_000, "the next record");
      expect(again).toEqual(["10"]);
      await sub2.stop();
    } finally {
      await bus.stop();
    }
  });
});
