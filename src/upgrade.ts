/**
 * `upgrade()`: `Deno.upgradeWebSocket` with the handshake checked, options
 * validated and the result wrapped in a {@linkcode Socket}.
 *
 * @module
 */

import {
  type AllowedOrigins,
  checkAllowedOrigins,
  checkProtocols,
} from "./handshake.ts";
import type { Socket, SocketOptions } from "./socket.ts";
import { withConfig } from "./_socket_config.ts";
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
import { defaultStore, type ServerSession } from "./session/server.ts";
import type { Authenticate, Principal } from "./auth/principal.ts";
import {
  Authenticator,
  checkAuthenticate,
  logAuthError,
  refusal,
} from "./auth/_authenticator.ts";
import { acceptUpgrade, checkUpgrade, upgradeChecked } from "./_accept.ts";
import { checkObserve, type Observer } from "./observe.ts";
import { upgradeObserved } from "./_upgrade_observed.ts";

/** The longest keepAliveInterval, in seconds: Deno's ping timer is in ms. */
const MAX_KEEP_ALIVE_SECONDS = Math.floor(MAX_TIMER_DELAY / 1000);

/**
 * Options for {@linkcode upgrade} and {@linkcode route}.
 *
 * @typeParam P The principal `authenticate` returns.
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
export interface UpgradeOptions<P extends Principal = Principal> extends
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
   * Decides who a request is, before the upgrade (and before the fallback
   * transport opens a session): return a principal to accept (the socket's
   * `principal` holds it), a `Response` to refuse with it, `undefined` to
   * refuse with 401 and `WWW-Authenticate: Bearer`; a throw refuses with
   * 500 and is reported (to the route's `onError`). May be async. `token`
   * is found in the `Authorization: Bearer` header, the bearer subprotocol
   * of the browser client's offer, or the `access_token` query parameter.
   * The principal's `expiresAt` (ms since the epoch) closes the socket with
   * 4001 "Token expired" unless the client refreshes in place first. With
   * it, `upgrade()` returns a promise. See docs/auth.md.
   *
   * @default {undefined (no authentication)}
   */
  authenticate?: Authenticate<P>;
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
 * @typeParam P The principal `authenticate` returned.
 *
 * @example Destructuring the result
 * ```ts ignore
 * const { socket, response }: UpgradeResult = upgrade(request);
 * ```
 */
export interface UpgradeResult<P extends Principal = Principal> {
  /**
   * The new connection; it opens once `response` is returned. Its
   * `principal` is what `authenticate` returned (`undefined` without it).
   */
  readonly socket: Socket & { readonly principal: P };
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
  /** The `authenticate` hook, when given. */
  authenticate?: Authenticate;
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
    authenticate,
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
    // Every socket made with these options shares one set of limits.
    socket: withConfig(socket),
  };
  const resumeOptions = checkResume(resume);
  if (resumeOptions !== undefined) checked.resume = resumeOptions;
  const hook = checkAuthenticate(authenticate);
  if (hook !== undefined) checked.authenticate = hook;
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
 * version; 403 for an origin outside `allowedOrigins`. Without
 * `authenticate` it is never a 500.
 *
 * With `authenticate`, `upgrade()` returns a promise: the handshake is
 * checked, then the hook decides, then the request is upgraded. A refusal
 * rejects with a {@linkcode HandshakeError} whose `response` is the hook's
 * own `Response`, or 401 with `WWW-Authenticate: Bearer`, or 500 when the
 * hook threw (logged as one line of text, without the token; the client
 * sees only "Internal server error").
 *
 * @typeParam P The principal `authenticate` returns.
 * @param request The incoming request.
 * @param options Subprotocols, keepalive, size and buffer limits, origins,
 * an abort signal, authentication.
 * @returns The socket and the 101 response to return (a promise of them
 * with `authenticate`).
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
 *
 * @example Authenticated, in a router of your own
 * ```ts ignore
 * import { HandshakeError, upgrade } from "@switchboard/switchboard";
 *
 * Deno.serve(async (request) => {
 *   try {
 *     const { socket, response } = await upgrade(request, {
 *       authenticate: (_request, { token }) =>
 *         token === "let-me-in" ? { sub: "alice" } : undefined,
 *     });
 *     socket.send(`hello ${socket.principal.sub}`);
 *     return response;
 *   } catch (error) {
 *     if (error instanceof HandshakeError) return error.response; // 401, ...
 *     throw error;
 *   }
 * });
 * ```
 */
export function upgrade<P extends Principal = Principal>(
  request: Request,
  options: UpgradeOptions<P> & { authenticate: Authenticate<P> },
): Promise<UpgradeResult<P>>;
/**
 * Upgrades a request to a WebSocket, after checking the handshake (see the
 * first signature).
 *
 * @param request The incoming request.
 * @param options Subprotocols, keepalive, size and buffer limits, origins,
 * an abort signal.
 * @returns The socket and the 101 response to return.
 * @throws {HandshakeError} When the handshake is refused.
 * @throws {TypeError} When an option has the wrong type.
 * @throws {RangeError} When an option is out of range.
 *
 * @example Without authentication
 * ```ts ignore
 * const { socket, response } = upgrade(request);
 * ```
 */
export function upgrade(
  request: Request,
  options?: UpgradeOptions & { authenticate?: undefined },
): UpgradeResult;
/**
 * Upgrades a request to a WebSocket, with options whose `authenticate` may
 * or may not be set (see the first signature).
 *
 * @param request The incoming request.
 * @param options The options.
 * @returns The socket and the 101 response, or a promise of them when
 * `authenticate` is set.
 * @throws {HandshakeError} When the handshake is refused.
 * @throws {TypeError} When an option has the wrong type.
 * @throws {RangeError} When an option is out of range.
 *
 * @example Options from elsewhere
 * ```ts ignore
 * const result = await upgrade(request, options as UpgradeOptions);
 * ```
 */
export function upgrade(
  request: Request,
  options?: UpgradeOptions,
): UpgradeResult | Promise<UpgradeResult>;
export function upgrade(
  request: Request,
  options: UpgradeOptions = {},
): UpgradeResult | Promise<UpgradeResult> {
  const checked = checkUpgradeOptions(options);
  const observer = checked.observe;
  if (observer === undefined) return authenticated(request, checked);
  return upgradeObserved(
    request,
    observer,
    () => authenticated(request, checked),
  );
}

/**
 * {@linkcode upgrade} with checked options: at once, or once `authenticate`
 * has decided.
 */
function authenticated(
  request: Request,
  checked: CheckedUpgradeOptions,
):
  | UpgradeResult & { session?: ServerSession }
  | Promise<UpgradeResult & { session?: ServerSession }> {
  const hook = checked.authenticate;
  if (hook === undefined) return upgradeChecked(request, checked);
  return (async () => {
    const protocol = checkUpgrade(request, checked);
    const authenticator = new Authenticator(
      hook,
      checked.allowedOrigins,
      logAuthError,
    );
    const outcome = await authenticator.check(request);
    if (outcome instanceof Response) throw refusal(outcome);
    return acceptUpgrade(request, checked, protocol, defaultStore, undefined, {
      authenticator,
      principal: outcome,
    });
  })();
}
