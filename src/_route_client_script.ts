/**
 * The browser build of the reconnecting client, as `route({ clientScript:
 * true })` serves it at `<path>/client.js`. Internal.
 *
 * @module
 */

let clientScriptFile: Promise<{ body: string; etag: string }> | undefined;

/**
 * Answers `GET <path>/client.js` with the bundled browser client (built
 * once, on the first request), with an `ETag` and `Cache-Control`; 304 for
 * a matching `If-None-Match`, 405 for other methods.
 *
 * @param request The request for the script.
 * @returns The answer.
 */
export async function serveClientScript(request: Request): Promise<Response> {
  if (request.method !== "GET" && request.method !== "HEAD") {
    return new Response("Method not allowed: use GET\n", {
      status: 405,
      headers: { "content-type": "text/plain", allow: "GET, HEAD" },
    });
  }
  clientScriptFile ??= import("./_client_bundle.ts").then(
    async ({ CLIENT_SCRIPT }) => {
      const digest = await crypto.subtle.digest(
        "SHA-256",
        new TextEncoder().encode(CLIENT_SCRIPT),
      );
      const hex = Array.from(
        new Uint8Array(digest).subarray(0, 16),
        (byte) => byte.toString(16).padStart(2, "0"),
      ).join("");
      return { body: CLIENT_SCRIPT, etag: `"${hex}"` };
    },
  );
  const { body, etag } = await clientScriptFile;
  const headers = {
    "content-type": "text/javascript; charset=utf-8",
    etag,
    "cache-control": "public, max-age=3600, must-revalidate",
  };
  const tags = request.headers.get("if-none-match");
  if (tags !== null && tags.split(",").some((tag) => tag.trim() === etag)) {
    return new Response(null, { status: 304, headers });
  }
  return new Response(request.method === "HEAD" ? null : body, { headers });
}
