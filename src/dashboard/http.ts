/** Headers every dashboard page carries: no framing, no sniffing, scripts only from this origin, no caching of private data. */
export const PAGE_HEADERS: Record<string, string> = {
  "content-type": "text/html; charset=utf-8",
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "same-origin",
  "cache-control": "no-store",
};

/** Renders a JSX element (sync or async) into an HTML response. */
export async function htmlResponse(el: JSX.Element, init: { status?: number; headers?: Record<string, string> } = {}): Promise<Response> {
  const body = await el;
  return new Response(body.startsWith("<html") ? `<!doctype html>${body}` : body, { status: init.status ?? 200, headers: { ...PAGE_HEADERS, ...init.headers } });
}

/** A 303 redirect (after a form post, or to the sign-in page). */
export function redirect(location: string, headers: Record<string, string> = {}): Response {
  return new Response(null, { status: 303, headers: { location, "cache-control": "no-store", ...headers } });
}

/** Only same-site relative paths under the dashboard are accepted as a post-login destination (no open redirect). */
export function safeNext(next: unknown, base: string): string {
  if (typeof next !== "string" || !next.startsWith(`${base}`) || next.startsWith("//") || next.includes("\\")) return base;
  return next;
}
