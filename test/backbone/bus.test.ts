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
});
