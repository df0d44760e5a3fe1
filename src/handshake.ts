/**
 * The opening handshake: telling a WebSocket request apart, checking it, and
 * the HTTP answers for a refused one (400, 403, 426).
 *
 * @module
 */

/**
 * Which origins may open a connection: a list of origins
 * (`"https://example.com"`, or `"*"` for any) or a predicate.
 *
 * @example A list and a predicate
 * ```ts
 * import type { AllowedOrigins } from "@switchboard/switchboard";
 *
 * const list: AllowedOrigins = ["https://example.com"];
 * const predicate: AllowedOrigins = (origin) => origin.endsWith(".example.com");
 * console.log(Array.isArray(list), typeof predicate);
 * ```
 */
export type AllowedOrigins =
  | readonly string[]
  | ((origin: string, request: Request) => boolean);

/**
 * A refused opening handshake, with the HTTP answer that goes with it.
 *
 * {@linkcode upgrade} throws it; {@linkcode route} answers with its
 * {@linkcode HandshakeError.response}. Users with a router of their own can
 * do the same.
 *
 * @example Answering a refused handshake in your own router
 * ```ts
 * import { HandshakeError, upgrade } from "@switchboard/switchboard";
 *
 * function handle(request: Request): Response {
 *   try {
 *     const { socket, response } = upgrade(request);
 *     socket.close();
 *     return response;
 *   } catch (error) {
 *     if (error instanceof HandshakeError) return error.response;
 *     throw error;
 *   }
 * }
 * const response = handle(new Request("http://localhost/ws"));
 * console.log(response.status); // 400
 * ```
 */
export class HandshakeError extends Error {
  /**
   * The HTTP status to answer with: 400, 403 or 426; with `authenticate`,
   * also 401, 500 or the status of the `Response` it returned.
   */
  readonly status: number;
  /** Extra headers for the answer, such as `Sec-WebSocket-Version`. */
  readonly headers: Readonly<Record<string, string>>;

  /**
   * Makes the error.
   *
   * @param status The HTTP status of the refusal.
   * @param message A sentence saying why the handshake was refused; it is
   * also the plain-text body of the response.
   * @param headers Extra response headers.
   * @param options Standard error options, such as `cause`.
   */
  constructor(
    status: number,
    message: string,
    headers: Record<string, string> = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "HandshakeError";
    this.status = status;
    this.headers = headers;
  }

  /** A new `Response` for the refusal each time it is read: status, headers, reason. */
  get response(): Response {
    return new Response(this.message + "\n", {
      status: this.status,
      headers: { "content-type": "text/plain; charset=utf-8", ...this.headers },
    });
  }
}

/**
 * Whether a request asks to open a WebSocket: a GET with `Upgrade: websocket`
 * and `Connection: upgrade` (the checks of ASP.NET Core's
 * `IsWebSocketRequest`). It does not check the key or the version; see
 * {@linkcode upgrade} for that.
 *
 * @param request The incoming request.
 * @returns `true` when the request is a WebSocket handshake.
 * @throws {TypeError} When `request` is not a `Request`.
 *
 * @example Telling requests apart
 * ```ts
 * import { isWebSocketRequest } from "@switchboard/switchboard";
 *
 * const ws = new Request("http://localhost/ws", {
 *   headers: { upgrade: "websocket", connection: "Upgrade" },
 * });
 * console.log(isWebSocketRequest(ws)); // true
 * console.log(isWebSocketRequest(new Request("http://localhost/"))); // false
 * ```
 */
export function isWebSocketRequest(request: Request): boolean {
  if (!(request instanceof Request)) {
    throw new TypeError("Invalid request: expected a Request");
  }
  return request.method === "GET" && asksForUpgrade(request) &&
    hasToken(request.headers.get("connection"), "upgrade");
}

/** Whether the request carries `Upgrade: websocket`, whatever else is wrong. */
export function asksForUpgrade(request: Request): boolean {
  return hasToken(request.headers.get("upgrade"), "websocket");
}

const KEY = /^[A-Za-z0-9+/]{22}==$/;

/**
 * Checks an opening handshake and chooses the subprotocol.
 *
 * @param request The incoming request.
 * @param origins The allowed origins, already checked by
 * {@linkcode checkAllowedOrigins}; `undefined` allows all.
 * @param protocols The subprotocols the server speaks.
 * @returns The chosen subprotocol, or `undefined` for none.
 * @throws {HandshakeError} When the handshake is refused.
 */
export function checkHandshake(
  request: Request,
  origins: AllowedOrigins | undefined,
  protocols: readonly string[],
): string | undefined {
  const headers = request.headers;
  if (request.method !== "GET") {
    throw new HandshakeError(
      400,
      `Bad WebSocket handshake: the method must be GET, not ${request.method}`,
    );
  }
  if (!asksForUpgrade(request)) {
    throw new HandshakeError(
      400,
      "Bad WebSocket handshake: the Upgrade header must be websocket",
    );
  }
  if (!hasToken(headers.get("connection"), "upgrade")) {
    throw new HandshakeError(
      400,
      "Bad WebSocket handshake: the Connection header must include upgrade",
    );
  }
  const key = headers.get("sec-websocket-key");
  if (key === null) {
    throw new HandshakeError(
      400,
      "Bad WebSocket handshake: the Sec-WebSocket-Key header is missing",
    );
  }
  if (!KEY.test(key.trim())) {
    throw new HandshakeError(
      400,
      "Bad WebSocket handshake: Sec-WebSocket-Key must be 16 bytes in base64",
    );
  }
  const version = headers.get("sec-websocket-version");
  if (version?.trim() !== "13") {
    throw new HandshakeError(
      426,
      version === null
        ? "Upgrade required: the Sec-WebSocket-Version header is missing; this server speaks version 13"
        : `Upgrade required: WebSocket version ${version} is not supported; this server speaks version 13`,
      { "sec-websocket-version": "13" },
    );
  }
  checkOrigin(request, origins);
  return chooseProtocol(headers.get("sec-websocket-protocol"), protocols);
}

/**
 * Checks the `Origin` header against the allowed origins; a request without
 * one (a non-browser client) passes.
 *
 * @param request The request.
 * @param origins The allowed origins, already checked by
 * {@linkcode checkAllowedOrigins}.
 * @throws {HandshakeError} 403 when the origin is not allowed.
 */
export function checkOrigin(
  request: Request,
  origins: AllowedOrigins | undefined,
): void {
  const origin = request.headers.get("origin");
  if (origins !== undefined && origin !== null) {
    let allowed = false;
    let cause: unknown;
    try {
      allowed = typeof origins === "function"
        ? origins(origin, request) === true
        : origins.includes("*") || origins.includes(normalizeOrigin(origin));
    } catch (error) {
      cause = error;
    }
    if (!allowed) {
      throw new HandshakeError(
        403,
        `Forbidden: origin ${origin} may not open a WebSocket here`,
        {},
        cause === undefined ? undefined : { cause },
      );
    }
  }
}

/**
 * Picks the subprotocol: the first one the client offers that the server
 * speaks.
 *
 * @param offered The client's comma-separated list, if any.
 * @param protocols The server's protocols.
 * @returns The chosen protocol, or `undefined` for none.
 */
export function chooseProtocol(
  offered: string | null,
  protocols: readonly string[],
): string | undefined {
  if (offered === null || protocols.length === 0) return undefined;
  for (const name of offered.split(",")) {
    const protocol = name.trim();
    if (protocols.includes(protocol)) return protocol;
  }
  return undefined;
}

/**
 * Validates an `allowedOrigins` option and normalises a list (lower case, no
 * trailing slash).
 *
 * @param value The option as given.
 * @returns The option, ready for {@linkcode checkHandshake}.
 * @throws {TypeError} When it is neither a list of strings nor a function.
 */
export function checkAllowedOrigins(
  value: unknown,
): AllowedOrigins | undefined {
  if (value === undefined || typeof value === "function") {
    return value as AllowedOrigins | undefined;
  }
  if (!Array.isArray(value) || value.some((o) => typeof o !== "string")) {
    throw new TypeError(
      "Invalid allowedOrigins: expected a list of origin strings or a function",
    );
  }
  return value.map(normalizeOrigin);
}

/**
 * Validates a `protocols` option: a list of valid subprotocol tokens.
 *
 * @param value The option as given.
 * @returns The list.
 * @throws {TypeError} When it is not a list of strings.
 * @throws {RangeError} When a name is empty or not an HTTP token.
 */
export function checkProtocols(value: unknown): readonly string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((p) => typeof p !== "string")) {
    throw new TypeError("Invalid protocols: expected a list of strings");
  }
  for (const protocol of value as string[]) {
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(protocol)) {
      throw new RangeError(
        `Invalid protocols: "${protocol}" is not a valid subprotocol name`,
      );
    }
  }
  return value;
}

function normalizeOrigin(origin: string): string {
  const lower = origin.trim().toLowerCase();
  return lower.endsWith("/") ? lower.slice(0, -1) : lower;
}

function hasToken(header: string | null, token: string): boolean {
  if (header === null) return false;
  for (const part of header.split(",")) {
    if (part.trim().toLowerCase() === token) return true;
  }
  return false;
}
