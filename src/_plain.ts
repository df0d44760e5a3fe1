/**
 * `plain()`: the plain-text HTTP answers `route()` and the fallback server
 * give. Internal.
 *
 * @module
 */

/**
 * A plain-text answer: one sentence and a line break.
 *
 * @param status The HTTP status.
 * @param text The reason, one sentence.
 * @returns The response.
 */
export function plain(status: number, text: string): Response {
  return new Response(`${text}\n`, {
    status,
    headers: { "content-type": "text/plain" },
  });
}

/**
 * The 404 a route (or the dashboard) gives a path it does not serve, when
 * the app set no `fallback`.
 *
 * @returns The response.
 */
export function notFound(): Response {
  return plain(404, "Not found");
}
