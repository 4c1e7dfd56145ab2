/**
 * `bun run demo`: replays realistic Northwind Bank support traffic through the product's real ingest paths, at a
 * gentle rate, so a newcomer sees the live feed, drafts, alerts and analytics fill within a minute:
 * - chat over the customer WebSocket `/api/chat/ws` (what the widget uses),
 * - email-like messages through `POST /api/messages` (source email, one conversation per mail thread),
 * - social posts through the signed webhook `POST /api/channels/webhooks/demo` when SOCIAL_WEBHOOK_SECRETS has a
 *   `demo` source (scripts/run.sh --demo sets one), else through `POST /api/messages` with source social.
 * The texts are written for this demo; card numbers are well-known test numbers (Luhn-valid, not real accounts).
 *
 * Usage: bun run demo [-- --url http://127.0.0.1:3000] [--interval-ms 1500] [--loop [--loop-interval-ms 6000]]
 * The API key (API_KEYS) and webhook secret come from the same configuration as the product (src/config.ts).
 */
import { loadConfig } from "../src/config.ts";
import { sign } from "../src/channels/social/webhook.ts";

type Channel = "chat" | "email" | "social";
interface DemoMessage {
  channel: Channel;
  /** Customer key: the same key is the same customer across messages. */
  who: string;
  name: string;
  email?: string;
  /** Mail thread, so follow-ups land in the same conversation. */
  thread?: string;
  text: string;
}

/** The script: varied everyday banking questions, a few urgent and angry ones, some carrying PII. */
export const SCRIPT: DemoMessage[] = [
  { channel: "chat", who: "v-ana", name: "Ana Ruiz", text: "Hi, I'd like to know how long a SEPA transfer to Spain usually takes?" },
  { channel: "email", who: "tom", name: "Tom Becker", email: "tom.becker@example.com", thread: "t1", text: "Hello, my debit card was declined at the supermarket this morning although there is money on the account. Can you check what happened?" },
  { channel: "social", who: "lisa_k", name: "Lisa K", text: "@NorthwindBank is the mobile app down? Can't log in since an hour." },
  { channel: "chat", who: "v-omar", name: "Omar Haddad", text: "URGENT: my card was stolen on the train, please block it immediately. The number is 4111 1111 1111 1111." },
  { channel: "email", who: "greta", name: "Greta Lind", email: "greta.lind@example.com", thread: "g1", text: "Dear Northwind team, I want to increase the limit of my overdraft to 2,000 EUR. What documents do you need?" },
  { channel: "chat", who: "v-ben", name: "Ben Carter", text: "How do I reset my online banking password? The reset email never arrives." },
  { channel: "social", who: "mike_r", name: "Mike R", text: "Three weeks waiting for my mortgage decision @NorthwindBank. This is unacceptable, nobody calls back. Absolutely furious." },
  { channel: "email", who: "tom", name: "Tom Becker", email: "tom.becker@example.com", thread: "t1", text: "Following up: the card was declined again at the pharmacy. I really need this fixed today please." },
  { channel: "chat", who: "v-sara", name: "Sara Novak", text: "There's a charge of 89.99 from a shop I've never heard of on my statement. I did not make this payment, what do I do?" },
  { channel: "email", who: "paul", name: "Paul Meyer", email: "paul.meyer@example.com", thread: "p1", text: "Hello, please send me a confirmation of my account balance for my visa application. My account email is paul.meyer@example.com." },
  { channel: "chat", who: "v-ana", name: "Ana Ruiz", text: "And is there a fee if I send 500 EUR? Thanks!" },
  { channel: "social", who: "jenny", name: "Jenny", text: "Just opened a savings account with @NorthwindBank in 5 minutes, great app, thanks!" },
  { channel: "chat", who: "v-leo", name: "Leo Fischer", text: "I changed my phone and now the app asks for a TAN I can't receive. How do I move the authenticator to the new phone?" },
  { channel: "email", who: "ines", name: "Ines Costa", email: "ines.costa@example.com", thread: "i1", text: "I was charged twice for the same card payment of 240 EUR at a hotel. Card 5555 5555 5555 4444. Please refund the duplicate." },
  { channel: "chat", who: "v-kai", name: "Kai Wong", text: "What are your branch opening hours on Saturday in Leeds?" },
  { channel: "social", who: "dan_p", name: "Dan P", text: "@NorthwindBank your ATM on King Street swallowed my card and I'm stuck without cash. Help asap" },
  { channel: "email", who: "greta", name: "Greta Lind", email: "greta.lind@example.com", thread: "g1", text: "I have attached my last three payslips. Is that enough for the overdraft request?" },
  { channel: "chat", who: "v-eva", name: "Eva Schmidt", text: "Can I set up a standing order for my rent from the app, or do I need to visit a branch?" },
  { channel: "chat", who: "v-raj", name: "Raj Patel", text: "Someone phoned me pretending to be Northwind and asked for my PIN. I think I gave them my card number 4012 8888 8888 1881. Please block it urgently!" },
  { channel: "email", who: "olga", name: "Olga Ivanova", email: "olga.ivanova@example.com", thread: "o1", text: "Good afternoon, I would like to close my joint account. My husband agrees. How do we proceed?" },
  { channel: "social", who: "marta", name: "Marta", text: "Why did @NorthwindBank charge me a 15 EUR fee for a transfer that failed? Not happy." },
  { channel: "chat", who: "v-sara", name: "Sara Novak", text: "I found another unknown payment today, 120 EUR. This is getting scary." },
  { channel: "email", who: "hugo", name: "Hugo Laurent", email: "hugo.laurent@example.com", thread: "h1", text: "My salary did not arrive today, my employer says it was sent on Monday. IBAN DE89 3704 0044 0532 0130 00. Can you trace it?" },
  { channel: "chat", who: "v-nina", name: "Nina Berg", text: "Do you offer student accounts without a monthly fee?" },
  { channel: "chat", who: "v-ben", name: "Ben Carter", text: "Still no reset email. This is ridiculous, I need to pay a bill today!" },
  { channel: "email", who: "tom", name: "Tom Becker", email: "tom.becker@example.com", thread: "t2", text: "Separate question: can I order a second card for my partner on my current account?" },
  { channel: "social", who: "alex_t", name: "Alex T", text: "@NorthwindBank is contactless payment with my watch supported yet?" },
  { channel: "chat", who: "v-ivy", name: "Ivy Chen", text: "How do I dispute a card payment for goods that never arrived? The seller stopped answering." },
  { channel: "email", who: "frank", name: "Frank Müller", email: "frank.mueller@example.com", thread: "f1", text: "I am furious. This is the third time my transfer to my landlord bounced and now I have a late fee. I want compensation." },
  { channel: "chat", who: "v-zoe", name: "Zoe Adams", text: "Is it safe to give my card number 3782 822463 10005 to this online shop? It asks for the CVV too." },
  { channel: "chat", who: "v-leo", name: "Leo Fischer", text: "Ok I found the re-register option, thank you!" },
  { channel: "social", who: "sam_b", name: "Sam B", text: "Card blocked while abroad in Lisbon, can't pay the hotel. @NorthwindBank please unblock urgently" },
  { channel: "email", who: "paul", name: "Paul Meyer", email: "paul.meyer@example.com", thread: "p1", text: "Could you also include the last 3 months of statements in English?" },
  { channel: "chat", who: "v-omar", name: "Omar Haddad", text: "Thanks for blocking it. When will the new card arrive at my address?" },
  { channel: "chat", who: "v-mia", name: "Mia Rossi", text: "What's the interest rate on your 12-month fixed deposit right now?" },
  { channel: "email", who: "ines", name: "Ines Costa", email: "ines.costa@example.com", thread: "i1", text: "It has been a week and the duplicate 240 EUR has not been refunded. Please escalate." },
  { channel: "social", who: "lisa_k", name: "Lisa K", text: "App works again, thanks @NorthwindBank" },
  { channel: "chat", who: "v-tim", name: "Tim Okafor", text: "I want to raise my daily ATM withdrawal limit to 1,000 for a car purchase. Possible?" },
  { channel: "email", who: "rosa", name: "Rosa Diaz", email: "rosa.diaz@example.com", thread: "r1", text: "URGENT: I see a login to my online banking from another country that wasn't me. Please lock my account now. My phone is +44 7700 900123." },
  { channel: "chat", who: "v-nina", name: "Nina Berg", text: "And can I open it online with a foreign passport?" },
];

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : def;
};

const config = loadConfig();
const base = opt("url", `http://${config.http.host === "0.0.0.0" ? "127.0.0.1" : config.http.host}:${config.http.port}`).replace(/\/$/, "");
const intervalMs = Math.max(200, Number(opt("interval-ms", "1500")) || 1500);
const loop = flag("loop");
// Later passes of a loop go slower: the first pass fills the dashboard, the rest keeps it alive.
const loopIntervalMs = Math.max(200, Number(opt("loop-interval-ms", "6000")) || 6000);
const apiKey = config.apiKeys[0] ?? null;
const webhookSecret = config.channels.webhooks.secrets.demo?.[0] ?? null;
// A run id keeps ids and conversations of one replay apart from the previous ones on a persistent database.
const run = Date.now().toString(36);

async function waitReady(): Promise<void> {
  const end = Date.now() + 180_000;
  for (;;) {
    try {
      if ((await fetch(`${base}/ready`)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > end) throw new Error(`${base}/ready did not answer 200 within 3 minutes`);
    await Bun.sleep(1000);
  }
}

async function postJson(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
}

/** One chat message over the customer WebSocket, as the widget sends it; resolves once the server accepted the socket. */
async function sendChat(m: DemoMessage): Promise<string> {
  const ws = new WebSocket(`${base.replace(/^http/, "ws")}/api/chat/ws?visitor=${encodeURIComponent(`demo-${run}-${m.who}`)}`);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("chat socket did not open")), 10_000);
    ws.onmessage = (e) => {
      if (String(e.data).includes('"ready"')) {
        clearTimeout(timer);
        resolve();
      }
    };
    ws.onerror = () => reject(new Error("chat socket failed"));
  });
  ws.send(JSON.stringify({ type: "message", text: m.text, name: m.name }));
  // Keep the socket open briefly so the reply (or its first tokens) can reach the "visitor".
  setTimeout(() => ws.close(), 5_000);
  return "chat socket";
}

async function sendEmail(m: DemoMessage): Promise<string> {
  const res = await postJson(
    "/api/messages",
    { source: "email", user: { id: m.email!, name: m.name, email: m.email }, message: { text: m.text }, metadata: { conversation_id: `email:<${m.thread}-${run}@demo.northwind.example>` } },
    apiKey ? { authorization: `Bearer ${apiKey}` } : {},
  );
  if (!res.ok) throw new Error(`POST /api/messages answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
  return `POST /api/messages ${res.status}`;
}

async function sendSocial(m: DemoMessage, n: number): Promise<string> {
  if (webhookSecret) {
    const body = JSON.stringify({ id: `demo-${run}-${n}`, network: "demo", kind: "mention", author: { id: m.who, name: m.name, handle: m.who }, text: m.text, thread_id: `${m.who}-${run}` });
    const ts = String(Math.floor(Date.now() / 1000));
    const res = await fetch(`${base}/api/channels/webhooks/demo`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-copilot-timestamp": ts, "x-copilot-signature": sign(webhookSecret, ts, body) },
      body,
    });
    if (!res.ok) throw new Error(`webhook answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
    return `signed webhook ${res.status}`;
  }
  const res = await postJson("/api/messages", { source: "social", user: { id: `@${m.who}`, name: m.name }, message: { text: m.text } }, apiKey ? { authorization: `Bearer ${apiKey}` } : {});
  if (!res.ok) throw new Error(`POST /api/messages answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
  return `POST /api/messages (social) ${res.status}`;
}

async function main(): Promise<void> {
  console.log(`[demo] waiting for ${base}/ready …`);
  await waitReady();
  console.log(`[demo] replaying ${SCRIPT.length} Northwind Bank messages, one every ${intervalMs} ms${loop ? ", looping" : ""}; open ${base}/dashboard`);
  let sent = 0;
  let failed = 0;
  let pause = intervalMs;
  do {
    for (const [i, m] of SCRIPT.entries()) {
      try {
        const how = m.channel === "chat" ? await sendChat(m) : m.channel === "email" ? await sendEmail(m) : await sendSocial(m, sent);
        sent++;
        console.log(`[demo] ${String(i + 1).padStart(2)}/${SCRIPT.length} ${m.channel.padEnd(6)} ${m.name.padEnd(14)} via ${how}`);
      } catch (e) {
        failed++;
        console.error(`[demo] ${m.channel} message ${i + 1} failed: ${(e as Error).message}`);
      }
      await Bun.sleep(pause);
    }
    pause = loopIntervalMs;
  } while (loop);
  await Bun.sleep(5_500);
  console.log(JSON.stringify({ demo: "northwind-bank", sent, failed }));
}

if (import.meta.main) await main();
