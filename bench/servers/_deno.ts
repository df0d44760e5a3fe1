/**
 * What the two Deno echo servers share: listening on a free port of
 * 127.0.0.1 and the GET /gc endpoint the memory scenario calls.
 *
 * @module
 */

/**
 * Serves `handler` on a free port of 127.0.0.1 and prints `{"port":N}`.
 *
 * @param handler The request handler.
 */
export function listen(
  handler: (request: Request) => Response | Promise<Response>,
): void {
  Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: ({ port }) => console.log(JSON.stringify({ port })),
  }, handler);
}

/**
 * Runs a full garbage collection when V8 exposes `gc` (it does under
 * `--v8-flags=--expose-gc`).
 *
 * @returns An empty 200 response.
 */
export function collectGarbage(): Response {
  (globalThis as { gc?: () => void }).gc?.();
  return new Response(null);
}
