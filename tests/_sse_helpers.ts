/**
 * Raw peers for the fallback transport's tests: a stream opened with
 * `fetch` and read by hand, and POSTs to a session.
 *
 * @module
 */

import assert from "node:assert/strict";

/**
 * Settles like `promise`, or with `late` after `ms` if it has not settled by
 * then; the timer is cleared either way.
 */
export function within<T, U>(
  promise: Promise<T>,
  ms: number,
  late: U,
): Promise<T | U> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<U>((resolve) => {
    timer = setTimeout(() => resolve(late), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** An open fallback stream, read by hand. */
export interface RawStream {
  response: Response;
  session: string;
  /** The session's secret, from the open event. */
  secret: string;
  reader: ReadableStreamDefaultReader<string>;
  /** Reads to the end of the stream (at most `ms`) and returns the text. */
  rest(ms?: number): Promise<string>;
  cancel(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Opens a fallback stream with `fetch` and reads its open event. */
export async function openStream(
  url: string,
  headers: Record<string, string> = {},
): Promise<RawStream> {
  const response = await fetch(url, {
    headers: { accept: "text/event-stream", ...headers },
  });
  assert.equal(response.status, 200);
  const reader = response.body!.pipeThrough(new TextDecoderStream())
    .getReader();
  let text = "";
  while (!text.includes("\n\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  const match = /^event: open\ndata: (.*)\n\n/.exec(text);
  assert.ok(match, `no open event in ${JSON.stringify(text)}`);
  const { session, secret } = JSON.parse(match[1]!) as {
    session: string;
    secret: string;
  };
  secrets.set(session, secret);
  let cancelled = false;
  const cancel = async () => {
    if (cancelled) return;
    cancelled = true;
    await reader.cancel().catch(() => {});
  };
  return {
    response,
    session,
    secret,
    reader,
    async rest(ms = 2000) {
      let rest = text.slice(match[0].length);
      const deadline = Date.now() + ms;
      for (;;) {
        const left = Math.max(0, deadline - Date.now());
        const result = await within(reader.read(), left, "timeout" as const);
        if (result === "timeout") {
          throw new Error(`The stream did not end: ${JSON.stringify(rest)}`);
        }
        if (result.done) break;
        rest += result.value;
      }
      cancelled = true;
      return rest;
    },
    cancel,
    [Symbol.asyncDispose]: cancel,
  };
}

/** The secret of every session opened with {@linkcode openStream}. */
const secrets = new Map<string, string>();

/**
 * POSTs a body (a string as is, anything else as JSON) to a session, with
 * the session's secret when it was opened with {@linkcode openStream} and
 * `headers` do not name one (`x-switchboard-secret: ""` sends none).
 */
export function post(
  url: string,
  session: string,
  body: unknown,
  headers: Record<string, string> = {},
) {
  const secret = secrets.get(session);
  const all: Record<string, string> = {
    "content-type": "text/plain;charset=UTF-8",
    ...(secret === undefined ? {} : { "x-switchboard-secret": secret }),
    ...headers,
  };
  if (all["x-switchboard-secret"] === "") delete all["x-switchboard-secret"];
  return fetch(`${url}?session=${session}`, {
    method: "POST",
    headers: all,
    body: typeof body === "string"
      ? body
      : body instanceof Uint8Array
      ? new Uint8Array(body) as Uint8Array<ArrayBuffer>
      : JSON.stringify(body),
  });
}

/** The close event a stream's text ends with. */
export function closeOf(text: string): { code: number; reason: string } {
  const match = /event: close\ndata: (.*)\n\n$/.exec(text);
  assert.ok(match, `no close event at the end of ${JSON.stringify(text)}`);
  return JSON.parse(match[1]!);
}
