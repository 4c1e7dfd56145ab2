/** Every expected failure carries a stable code, the HTTP status it maps to, and whether a retry can help. */
export class AppError extends Error {
  readonly code: string;
  readonly status: number;
  readonly retriable: boolean;
  readonly details?: unknown;

  constructor(code: string, message: string, opts: { status?: number; retriable?: boolean; details?: unknown; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "AppError";
    this.code = code;
    this.status = opts.status ?? 500;
    this.retriable = opts.retriable ?? false;
    this.details = opts.details;
  }

  /** The shape returned to HTTP clients: never a stack trace. */
  toJSON(): { error: { code: string; message: string; details?: unknown } } {
    return { error: { code: this.code, message: this.message, ...(this.details === undefined ? {} : { details: this.details }) } };
  }
}

/** Wraps anything thrown into an AppError; unknown errors are treated as retriable internal failures. */
export function toAppError(err: unknown, fallbackCode = "internal"): AppError {
  if (err instanceof AppError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new AppError(fallbackCode, message, { status: 500, retriable: true, cause: err });
}

/** Result of an operation whose failure is expected and handled by the caller (workers, validators). */
export type Result<T, E = AppError> = { ok: true; value: T } | { ok: false; error: E };

/** Builds a successful Result. */
export const ok = <T>(value: T): Result<T, never> => ({ ok: true, value });

/** Builds a failed Result. */
export const err = <E>(error: E): Result<never, E> => ({ ok: false, error });
