import { BlockList, isIP } from "node:net";

/** Parsed TRUSTED_PROXIES: addresses of reverse proxies whose X-Forwarded-For is believed. */
export class TrustedProxies {
  private readonly list = new BlockList();
  /** Answers for addresses seen (a flood repeats the same few): isIP and BlockList cost more than a map lookup. */
  private readonly seen = new Map<string, 0 | 1 | 2>();
  readonly size: number;

  /** Takes CIDRs or single addresses (`10.0.0.0/8`, `::1`, `127.0.0.1`); throws on anything else. */
  constructor(entries: string[]) {
    for (const e of entries) {
      const [addr, bits] = e.split("/") as [string, string | undefined];
      const v = isIP(addr);
      if (!v) throw new Error(`${e} is not an IP address or CIDR`);
      const type = v === 4 ? "ipv4" : "ipv6";
      if (bits === undefined) this.list.addAddress(addr, type);
      else {
        const n = Number(bits);
        if (!Number.isInteger(n) || n < 0 || n > (v === 4 ? 32 : 128)) throw new Error(`${e} has an invalid prefix length`);
        this.list.addSubnet(addr, n, type);
      }
    }
    this.size = entries.length;
  }

  /** True when the address belongs to a configured proxy (IPv4-mapped IPv6 addresses match their IPv4 entries). */
  has(address: string): boolean {
    return this.size > 0 && this.kind(address) === 2;
  }

  /** 0: not an IP address, 1: an address that is not a proxy, 2: a trusted proxy. */
  kind(address: string): 0 | 1 | 2 {
    let k = this.seen.get(address);
    if (k === undefined) {
      k = !isIP(address) ? 0 : this.lookup(address) ? 2 : 1;
      if (this.seen.size >= 10_000) this.seen.clear();
      this.seen.set(address, k);
    }
    return k;
  }

  private lookup(address: string): boolean {
    const v = isIP(address);
    if (v === 6 && /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(address) && this.list.check(address.slice(7), "ipv4")) return true;
    return this.list.check(address, v === 4 ? "ipv4" : "ipv6");
  }
}

type Server = { requestIP(r: Request): { address: string } | null } | null | undefined;

/**
 * The client address to key limits on: the socket peer, unless the peer is a trusted proxy, in which case
 * X-Forwarded-For is read from the right, skipping trusted hops, so a client cannot choose its own address by
 * prepending entries. Requests handed over in-process (tests) have no peer and count as "unknown".
 */
export function clientIp(request: Request, server: Server, proxies: TrustedProxies): string {
  let peer = "unknown";
  try {
    peer = server?.requestIP(request)?.address ?? "unknown";
  } catch {
    /* no socket behind this request */
  }
  if (!proxies.has(peer)) return peer;
  const header = request.headers.get("x-forwarded-for");
  if (!header) return peer;
  // Right to left, without splitting the whole header: the first untrusted hop is usually the last entry.
  let end = header.length;
  let first = peer;
  while (end > 0) {
    const comma = header.lastIndexOf(",", end - 1);
    const hop = header.slice(comma + 1, end).trim();
    end = comma === -1 ? 0 : comma;
    if (!hop) continue;
    const kind = proxies.kind(hop);
    if (kind === 2) {
      first = hop;
      continue;
    }
    return kind === 1 ? hop : peer;
  }
  return first;
}
