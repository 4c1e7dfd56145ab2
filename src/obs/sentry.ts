import type { Config } from "../config.ts";
import type { Logger } from "./log.ts";

/** The subset of a Sentry event this module scrubs (kept structural so tests need no SDK). */
export interface ScrubbableEvent {
  message?: string;
  user?: unknown;
  request?: unknown;
  extra?: Record<string, unknown>;
  breadcrumbs?: unknown[];
  contexts?: Record<string, unknown>;
  tags?: Record<string, unknown>;
  exception?: { values?: { type?: string; value?: string; stacktrace?: { frames?: { vars?: unknown }[] } }[] };
  logentry?: { message?: string; params?: unknown[] };
}

type Capture = (e: unknown, hint?: { tags?: Record<string, string> }) => void;

let capture: Capture | null = null;
let flush: ((ms: number) => Promise<boolean>) | null = null;

const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
const QUOTED = /(["'`\u201c])(?:(?!\1).){1,2000}\1/g;
const DIGITS = /\d[\d\s-]{5,}\d/g;

/**
 * Removes anything that may carry message text or personal data: request, user, extra data, breadcrumbs
 * (they can hold log lines), local variables, and in exception values quoted fragments, emails and long digit runs
 * (JSON parse errors quote the input; card and phone numbers are digit runs). Only the error type, its code-bearing
 * message skeleton, tags and the stack trace remain.
 */
export function scrubEvent<E extends ScrubbableEvent>(event: E): E {
  delete event.user;
  delete event.request;
  delete event.extra;
  delete event.breadcrumbs;
  if (event.contexts) for (const k of Object.keys(event.contexts)) if (!["runtime", "os", "app", "trace", "device", "culture", "cloud_resource"].includes(k)) delete event.contexts[k];
  if (event.message) event.message = scrubText(event.message);
  if (event.logentry) event.logentry = { message: scrubText(event.logentry.message ?? "") };
  for (const v of event.exception?.values ?? []) {
    if (v.value) v.value = scrubText(v.value);
    for (const f of v.stacktrace?.frames ?? []) delete f.vars;
  }
  return event;
}

/** Masks quoted fragments, email addresses and long digit runs in a free-text string. */
export function scrubText(s: string): string {
  return s.replace(QUOTED, "$1[redacted]$1").replace(EMAIL, "[email]").replace(DIGITS, "[number]").slice(0, 500);
}

/**
 * Starts Sentry error reporting when a DSN is configured; off (and the SDK not even loaded) otherwise.
 * No PII: every `dataCollection` category is off, breadcrumbs and request data are dropped, events are scrubbed before sending,
 * and performance tracing stays with OpenTelemetry.
 */
export async function initSentry(t: Config["telemetry"], release: string, log?: Logger): Promise<boolean> {
  if (!t.sentryDsn) return false;
  if (capture) return true;
  const Sentry = await import("@sentry/bun");
  Sentry.init({
    dsn: t.sentryDsn,
    environment: t.sentryEnvironment,
    release,
    // Collect nothing about users, requests, queries, queue payloads or local variables.
    dataCollection: {
      userInfo: false,
      cookies: false,
      httpHeaders: false,
      httpBodies: [],
      urlQueryParams: false,
      graphQL: { document: false, variables: false },
      genAI: { inputs: false, outputs: false },
      databaseQueryData: false,
      queues: false,
      stackFrameVariables: false,
      frameContextLines: 0,
    },
    tracesSampleRate: undefined,
    maxBreadcrumbs: 0,
    beforeBreadcrumb: () => null,
    beforeSend: (event) => scrubEvent(event as ScrubbableEvent) as typeof event,
  });
  capture = (e, hint) => void Sentry.captureException(e, hint?.tags ? { tags: hint.tags } : undefined);
  flush = (ms) => Sentry.flush(ms);
  log?.info({ component: "sentry", environment: t.sentryEnvironment }, "Sentry error reporting on");
  return true;
}

/** Reports an unexpected failure to Sentry when it is on (tags must not carry personal data). */
export function reportError(e: unknown, tags?: Record<string, string>): void {
  capture?.(e, { tags });
}

/** Sends queued events before exit. */
export async function flushSentry(ms = 2000): Promise<void> {
  await flush?.(ms).catch(() => false);
}
