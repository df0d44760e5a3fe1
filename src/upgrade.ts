/**
 * `upgrade()`: `Deno.upgradeWebSocket` with the handshake checked, options
 * validated and the result wrapped in a {@linkcode Socket}.
 *
 * @module
 */

import {
  type AllowedOrigins,
  checkAllowedOrigins,
  checkHandshake,
  checkProtocols,
  HandshakeError,
} from "./handshake.ts";
import { Socket, type SocketOptions } from "./socket.ts";
import {
  DEFAULT_HIGH_WATER_MARK,
  DEFAULT_MAX_MESSAGE_SIZE,
  DEFAULT_MAX_QUEUED_MESSAGES,
  DEFAULT_SEND_TIMEOUT,
  MAX_TIMER_DELAY,
  nonNegative,
  optionalSignal,
  positiveInteger,
  queuedBytes,
} from "./_validate.ts";
import {
  type CheckedResume,
  checkResume,
  type ResumeOptions,
} from "./session/options.ts";
import {
  defaultStore,
  ServerSession,
  type SessionStore,
} from "./session/server.ts";
import { acceptProtocol } from "./session/wire.ts";
import { checkObserve, type Observer } from "./observe.ts";
import { upgradeObserved } from "./_upgrade_observed.ts";

/** The longest keepAliveInterval, in seconds: Deno's ping timer is in ms. */
const MAX_KEEP_ALIVE_SECONDS = Math.floor(MAX_TIMER_DELAY / 1000);

/**
 * Options for {@linkcode upgrade} and {@linkcode route}.
 *
 * @example A chat server's options
 * ```ts
 * import type { UpgradeOptions } from "@switchboard/switchboard";
 *
 * const options: UpgradeOptions = {
 *   protocols: ["chat.v2", "chat.v1"],
 *   keepAliveInterval: 20,
 *   maxMessageSize: 64 * 1024,
 *   allowedOrigins: ["https://chat.example.com"],
 * };
 * console.log(options.keepAliveInterval);
 * ```
 */
export interface UpgradeOptions extends
  Pick<
    SocketOptions,
    | "highWaterMark"
    | "maxQueuedMessages"
    | "maxQueuedMessageBytes"
    | "sendTimeout"
    | "signal"
  > {
  /**
   * The subprotocols the server speaks. The first protocol in the client's
   * `Sec-WebSocket-Protocol` list that is also in this list is chosen and
   * echoed (see {@linkcode Socket.protocol}); when none matches, the
   * connection is accepted without a subprotocol.
   *
   * @default {[]}
   */
  protocols?: readonly string[];
  /**
   * Seconds without traffic from the peer before a ping goes out; a peer
   * that stays silent as long again is closed with 1001 "No response from
   * ping frame." (ASP.NET Core's `KeepAliveInterval`). Built on Deno's
   * `idleTimeout`, which is set to twice this value. 0 turns it off. At
   * most 2,147,483 (about 24.8 days): a larger value is a `RangeError`.
   *
   * @default {30}
   */
  keepAliveInterval?: number;
  /**
   * The largest message accepted, in bytes. A larger one closes the
   * connection with 1009 and never reaches the loop. Deno has already
   * received the whole message by then.
   *
   * @default {16777216}
   */
  maxMessageSize?: number;
  /**
   * Which `Origin` headers may connect (ASP.NET Core's `AllowedOrigins`).
   * Others get 403. A request without an `Origin` header (a non-browser
   * client) is not checked.
   *
   * @default {undefined (all origins)}
   */
  allowedOrigins?: AllowedOrigins;
  /**
   * Resumable sessions for clients that ask for them (`connect(url,
   * { resume: true })`, negotiated with the `switchboard.resume.v1`
   * subprotocol beside the app's own): a dropped connection does not end
   * the socket; the client comes back within `window` ms and every message
   * is delivered exactly once, in order, both ways. `true` takes the
   * defaults. Other clients get a plain connection. See docs/sessions.md.
   *
   * @default {undefined (off)}
   */
  resume?: boolean | ResumeOptions;
  /**
   * Told of every handshake, connection, message and close, for metrics,
   * traces or a dashboard: an {@linkcode Observer} such as `otel()` of
   * `./otel`, or a list of them. Without it nothing is measured and the
   * hot path pays nothing.
   *
   * @default {undefined (none)}
   */
  observe?: Observer | readonly Observer[];
}

/**
 * What {@linkcode upgrade} returns: the socket and the 101 response to return
 * from the request handler.
 *
 * @example Destructuring the result
 * ```ts ignore
 * const { socket, response }: UpgradeResult = upgrade(request);
 * ```
 */
export interface UpgradeResult {
  /** The new connection; it opens once `response` is returned. */
  readonly socket: Socket;
  /** The `101 Switching Protocols` response to return. */
  readonly response: Response;
}

/** Options checked once, so a route does not repeat it per connection. */
export interface CheckedUpgradeOptions {
  protocols: readonly string[];
  idleTimeout: number;
  allowedOrigins: AllowedOrigins | undefined;
  socket: SocketOptions;
  /** The resume options, when resume is on. */
  resume?: CheckedResume;
  /** The observer, when one was given. */
  observe?: Observer;
}

/**
 * Validates upgrade options and applies their defaults.
 *
 * @param options The options as given.
 * @returns The checked options.
 * @throws {TypeError} When an option has the wrong type.
 * @throws {RangeError} When a number is out of range.
 */
export function checkUpgradeOptions(
  options: UpgradeOptions,
): CheckedUpgradeOptions {
  if (options === null || typeof options !== "object") {
    throw new TypeError("Invalid options: expected an object");
  }
  const {
    protocols,
    keepAliveInterval = 30,
    maxMessageSize = DEFAULT_MAX_MESSAGE_SIZE,
    allowedOrigins,
    highWaterMark = DEFAULT_HIGH_WATER_MARK,
    maxQueuedMessages = DEFAULT_MAX_QUEUED_MESSAGES,
    maxQueuedMessageBytes,
    sendTimeout = DEFAULT_SEND_TIMEOUT,
    signal,
    resume,
    observe,
  } = options;
  if (typeof keepAliveInterval !== "number") {
    throw new TypeError(
      `Invalid keepAliveInterval: expected a number of seconds, got ${typeof keepAliveInterval}`,
    );
  }
  if (!Number.isFinite(keepAliveInterval) || keepAliveInterval < 0) {
    throw new RangeError(
      `Invalid keepAliveInterval: expected 0 or a positive number of seconds, got ${keepAliveInterval}`,
    );
  }
  if (keepAliveInterval > MAX_KEEP_ALIVE_SECONDS) {
    // Deno's ping timer runs in milliseconds and overflows past 2^31 - 1:
    // every connection would be dropped at once.
    throw new RangeError(
      `Invalid keepAliveInterval: expected at most ${MAX_KEEP_ALIVE_SECONDS} seconds (the unit is seconds, not milliseconds), got ${keepAliveInterval}`,
    );
  }
  const maxSize = positiveInteger("maxMessageSize", maxMessageSize);
  const socket: SocketOptions = {
    highWaterMark: positiveInteger("highWaterMark", highWaterMark),
    maxMessageSize: maxSize,
    maxQueuedMessages: positiveInteger("maxQueuedMessages", maxQueuedMessages),
    maxQueuedMessageBytes: queuedBytes(maxQueuedMessageBytes, maxSize),
    sendTimeout: nonNegative("sendTimeout", sendTimeout),
  };
  if (optionalSignal(signal)) socket.signal = signal as AbortSignal;
  const checked: CheckedUpgradeOptions = {
    protocols: checkProtocols(protocols),
    idleTimeout: keepAliveInterval * 2,
    allowedOrigins: checkAllowedOrigins(allowedOrigins),
    socket,
  };
  const resumeOptions = checkResume(resume);
  if (resumeOptions !== undefined) checked.resume = resumeOptions;
  const observer = checkObserve(observe);
  if (observer !== undefined) checked.observe = observer;
  return checked;
}

/**
 * Upgrades a request to a WebSocket, after checking the handshake.
 *
 * A refused handshake throws a {@linkcode HandshakeError} whose `response` is
 * the answer to send: 400 for a non-GET, a missing or malformed
 * `Sec-WebSocket-Key`, or a missing `Upgrade: websocket` or
 * `Connection: upgrade`; 426 with `Sec-WebSocket-Version: 13` for another
 * version; 403 for an origin outside `allowedOrigins`. It is never a 500.
 *
 * @param request The incoming request.
 * @param options Subprotocols, keepalive, size and buffer limits, origins,
 * an abort signal.
 * @returns The socket and the 101 response to return.
 * @throws {HandshakeError} When the handshake is refused.
 * @throws {TypeError} When an option has the wrong type.
 * @throws {RangeError} When an option is out of range.
 *
 * @example An echo server
 * ```ts ignore
 * import { HandshakeError, upgrade } from "@switchboard/switchboard";
 *
 * Deno.serve((request) => {
 *   try {
 *     const { socket, response } = upgrade(request, { keepAliveInterval: 20 });
 *     (async () => {
 *       for await (const msg of socket) await socket.send(msg.data);
 *     })();
 *     return response;
 *   } catch (error) {
 *     if (error instanceof HandshakeError) return error.response;
 *     throw error;
 *   }
 * });
 * ```
 */
export function upgrade(
  request: Request,
  options: UpgradeOptions = {},
): UpgradeResult {
  const checked = checkUpgradeOptions(options);
  return checked.observe === undefined
    ? upgradeChecked(request, checked)
    : upgradeObserved(request, checked, checked.observe);
}

/**
 * {@linkcode upgrade} with options already checked.
 *
 * @param request The incoming request.
 * @param options Options from {@linkcode checkUpgradeOptions}.
 * @returns The socket and the 101 response.
 * @throws {HandshakeError} When the handshake is refused.
 */
export function upgradeChecked(
  request: Request,
  options: CheckedUpgradeOptions,
  sessions: SessionStore = defaultStore,
  admit?: () => boolean,
): UpgradeResult & { session?: ServerSession } {
  if (!(request instanceof Request)) {
    throw new TypeError("Invalid request: expected a Request");
  }
  const protocol = checkHandshake(
    request,
    options.allowedOrigins,
    options.protocols,
  );
  const resume = options.resume;
  const echo = resume === undefined ? undefined : acceptProtocol(
    request.headers.get("sec-websocket-protocol"),
    protocol,
  );
  const chosen = echo ?? protocol;
  let upgraded: { socket: WebSocket; response: Response };
  try {
    upgraded = Deno.upgradeWebSocket(
      request,
      chosen === undefined
        ? { idleTimeout: options.idleTimeout }
        : { idleTimeout: options.idleTimeout, protocol: chosen },
    );
  } catch (error) {
    throw new HandshakeError(
      400,
      `Bad WebSocket handshake: ${
        error instanceof Error ? error.message : String(error)
      }`,
      {},
      { cause: error },
    );
  }
  if (echo !== undefined && resume !== undefined) {
    // The Socket asks the session before every send (highWaterMark 1): the
    // session applies the real one and holds sends while maxUnacked is
    // reached. A gap is no reason to give up on a send (no sendTimeout).
    const session = new ServerSession(
      upgraded.socket,
      protocol ?? "",
      sessions,
      resume,
      options.socket.highWaterMark ?? DEFAULT_HIGH_WATER_MARK,
      admit,
    );
    const socket = new Socket(session as unknown as WebSocket, {
      ...options.socket,
      highWaterMark: 1,
      sendTimeout: 0,
      protocol: protocol ?? "",
    });
    return { socket, response: upgraded.response, session };
  }
  const socket = new Socket(
    upgraded.socket,
    protocol === undefined ? options.socket : { ...options.socket, protocol },
  );
  return { socket, response: upgraded.response };
}
