// What cannot be answered to the caller goes to `onError`: at most once per
// received message, however many errors the message caused.

/** Where errors go: the peer's `onError`, guarded against its throws. */
export type Report = (error: unknown, method: string | undefined) => void;

/** How many of one message's errors its report keeps. */
const MAX_KEPT_ERRORS = 10;

/**
 * The errors one received message caused that no answer tells the other
 * side: `onError` hears of them once, when the message is done.
 */
export class Failures {
  #report: Report;
  #count = 0;
  /**
   * The first {@linkcode MAX_KEPT_ERRORS}, with the method of the first;
   * made by the first (most messages cause none).
   */
  #kept: unknown[] | undefined;
  #method: string | undefined;
  /** Whether they came from more than one method. */
  #mixed = false;

  constructor(report: Report) {
    this.#report = report;
  }

  /** Notes an error for the message's one report. */
  add(error: unknown, method: string | undefined): void {
    if (this.#count++ === 0) this.#method = method;
    else if (method !== this.#method) this.#mixed = true;
    const kept = this.#kept ??= [];
    if (kept.length < MAX_KEPT_ERRORS) kept.push(error);
  }

  /** Tells `onError` what the message caused: once, however many. */
  flush(): void {
    const count = this.#count;
    const kept = this.#kept;
    if (kept === undefined) return;
    if (count === 1) return this.#report(kept[0], this.#method);
    this.#report(
      new AggregateError(
        kept,
        `One message caused ${count} errors (the first: ${describe(kept[0])})`,
      ),
      this.#mixed ? undefined : this.#method,
    );
  }
}

/**
 * The default `onError`. Logs one line of text: the console keeps no error
 * object alive.
 */
export function logError(error: unknown, method: string | undefined): void {
  console.error(
    method === undefined
      ? `Switchboard RPC: ${describe(error)}`
      : `Switchboard RPC: method "${method}" failed: ${describe(error)}`,
  );
}

/** An error as one line of text. */
function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return `${error.name}${code === undefined ? "" : ` ${code}`}: ${
      error.message.split("\n", 1)[0]
    }`;
  }
  try {
    return String(error);
  } catch {
    return typeof error;
  }
}
