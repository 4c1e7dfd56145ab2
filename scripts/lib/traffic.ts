import { readFileSync } from "node:fs";
import { parseCsv } from "../../src/ml/data.ts";

/** One realistic customer message of the benches: who wrote it, the text, and its conversation. */
export interface RealisticMessage {
  user: { id: string; name: string; email: string };
  message: { text: string };
  conversation: string;
}

const GREETINGS = ["", "", "Hi,\n\n", "Hello team,\n\n", "Good morning,\n\n", "Dear Northwind Bank,\n\n"];
const SIGNOFFS = ["", "", "\n\nThanks", "\n\nBest regards,\nEmma Dubois\nACME GmbH | +49 30 1234567", "\n\nCheers, Tom", "\n\nKind regards\nJ. Smith\nSent from my iPhone"];
const PII = ["", "", "", " My card is 4539 1488 0343 6467.", " You can reach me at ann.customer@example.com.", " My IBAN is DE89 3704 0044 0532 0130 00."];
const CONTEXT = ["", "", " I have been a customer for years and this has never happened before, so I would appreciate a quick answer because I need the money for rent this week."];

/** A deterministic pseudo-random pick so two runs send the same traffic. */
function pick<T>(xs: T[], i: number, salt: number): T {
  return xs[(i * 2654435761 + salt * 40503) % xs.length >>> 0]!;
}

/** A text wrapped the way customer i writes: greeting, PII, extra context, sign-off (deterministic in i). */
export function wrapRealistic(body: string, i: number): string {
  return pick(GREETINGS, i, 1) + body + pick(PII, i, 2) + pick(CONTEXT, i, 3) + pick(SIGNOFFS, i, 4);
}

/**
 * Realistic traffic from the Banking77 train texts (CSV at `csvPath`): wrapped the way customers write, with greetings,
 * sign-offs, PII and varied lengths; 997 customers, one conversation each. Message i is the same in every run.
 */
export function realisticTraffic(csvPath: string): (i: number) => RealisticMessage {
  const texts = parseCsv(readFileSync(csvPath, "utf8"))
    .slice(1)
    .map((r) => r[0]!)
    .filter(Boolean);
  return (i) => {
    const body = texts[i % texts.length]!;
    const text = wrapRealistic(body, i);
    const user = `e2e-cust-${i % 997}`;
    return { user: { id: user, name: `Customer ${i % 997}`, email: `${user}@example.com` }, message: { text }, conversation: `chat:${user}` };
  };
}
