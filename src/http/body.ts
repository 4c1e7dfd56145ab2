import { AppError } from "../errors.ts";
import { decodeUtf8Strict } from "../schema/text.ts";

/** Default byte limit of a JSON request body when the route is not told otherwise. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** The 413 every route returns for a body over its limit. */
export function tooLarge(maxBytes: number, got?: number): AppError {
  return new AppError("payload_too_large", `request body must be at most ${maxBytes} bytes${got === undefined ? "" : ` (got ${got})`}`, { status: 413 });
}

/**
 * Reads a request body as strict UTF-8 within a byte limit: 413 before reading when Content-Length says it is too
 * big, 413 after reading when the bytes are, 400 `invalid_utf8` when they are not UTF-8 (a lenient decoder would
 * silently turn them into U+FFFD and the customer's text would change without anyone knowing).
 */
export async function readTextBody(request: Request, maxBytes: number): Promise<string> {
  const declared = Number(request.headers.get("content-length") ?? "");
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes, declared);
  const bytes = new Uint8Array(await request.arrayBuffer());
  if (bytes.byteLength > maxBytes) throw tooLarge(maxBytes, bytes.byteLength);
  const text = decodeUtf8Strict(bytes);
  if (text === null) throw new AppError("invalid_utf8", "body is not valid UTF-8", { status: 400, details: [{ path: "/", message: "must be UTF-8" }] });
  return text;
}

/** Reads and parses a JSON body under the same rules; deeply nested or malformed JSON is a 400. */
export async function readJsonBody(request: Request, maxBytes: number): Promise<unknown> {
  const text = await readTextBody(request, maxBytes);
  try {
    return JSON.parse(text);
  } catch (e) {
    const deep = e instanceof RangeError;
    throw new AppError("invalid_body", deep ? "body is nested too deeply" : "body is not valid JSON", { status: 400 });
  }
}
