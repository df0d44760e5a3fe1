/**
 * The HTTP side of the fallback's client: the `fetch` it calls, the stream's
 * and POSTs' `http(s)://` address, and one POST, sent again with the same
 * body (so the same sequence number, which the server delivers once) while
 * its answer is lost: a network error or a 5xx from a proxy, up to
 * `POST_ATTEMPTS` times, waiting longer each time. No Deno APIs.
 *
 * @module
 */

/**
 * A `fetch` function, as the fallback transport calls it (see the client's
 * `fetch` option).
 *
 * @example A fetch that sends cookies to another origin
 * ```ts
 * import type { Fetch } from "@switchboard/switchboard/client";
 *
 * const withCookies: Fetch = (input, init) =>
 *   fetch(input, { ...init, credentials: "include" });
 * console.log(typeof withCookies);
 * ```
 */
export type Fetch = (
  input: string | URL | Request,
  init?: RequestInit,
) => Promise<Response>;

/**
 * The `http(s)://` address of a `ws(s)://` URL.
 *
 * @param url The URL.
 * @returns The URL with an HTTP scheme.
 */
export function httpUrl(url: string): URL {
  const http = new URL(url);
  if (http.protocol === "ws:") http.protocol = "http:";
  else if (http.protocol === "wss:") http.protocol = "https:";
  return http;
}

/** Attempts per POST before the session is given up (1006). */
const POST_ATTEMPTS = 6;

/** How to send the POSTs of one connection. */
export interface PostTarget {
  fetch: Fetch;
  url: string;
  /** The request's headers, made again for each attempt. */
  headers(): Record<string, string>;
  signal: AbortSignal;
  /** Whether the connection closed: no more attempts. */
  closed(): boolean;
}

/**
 * Sends one POST.
 *
 * @param target Where and how.
 * @param body The batch.
 * @returns The answer's status and, for a 200, its text; `[0, ""]` when the
 * connection closed first; the last error when every attempt failed.
 */
export async function post(
  target: PostTarget,
  body: string,
): Promise<[number, string] | Error> {
  let error: unknown;
  for (let attempt = 0; attempt < POST_ATTEMPTS; attempt++) {
    if (attempt > 0) await delay(50 * 2 ** attempt);
    if (target.closed()) return [0, ""];
    try {
      const response = await target.fetch(target.url, {
        method: "POST",
        headers: target.headers(),
        body,
        signal: target.signal,
      });
      const answer = response.status === 200 ? await response.text() : "";
      if (response.status !== 200) await response.body?.cancel();
      // A 5xx from a proxy: the POST may not have arrived; send it again.
      if (response.status < 500) return [response.status, answer];
      error = new Error(`HTTP ${response.status}`);
    } catch (caught) {
      error = caught;
    }
  }
  return error instanceof Error ? error : new Error(String(error));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
