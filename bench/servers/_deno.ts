/**
 * What the Deno server programs share: listening on a free port of
 * 127.0.0.1 and printing it as bench/lib/process.ts's `startServer` reads it,
 * and the GET /gc endpoint the memory scenario calls.
 *
 * @module
 */

/**
 * Serves `handler` on a free port of 127.0.0.1 and prints `{"port":N}`.
 *
 * @param handler The request handler.
 * @returns The server.
 */
export function listen(
  handler: (request: Request) => Response | Promise<Response>,
): Deno.HttpServer {
  return Deno.serve({
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
