/**
 * Switchboard: WebSockets for Deno that read like a loop.
 *
 * `route()` serves WebSockets on one path of a `Deno.serve` server;
 * `upgrade()` does the same inside a router of your own. Either hands you a
 * {@linkcode Socket}: read it with `for await`, write with `send()` (which
 * waits when the peer is slow), and learn why it ended from `closed`.
 *
 * @example An echo server on /ws
 * ```ts ignore
 * import { route } from "@switchboard/switchboard";
 *
 * Deno.serve(route("/ws", async (socket) => {
 *   for await (const msg of socket) await socket.send(msg.data);
 *   const { code, reason } = await socket.closed;
 *   console.log(`closed with ${code} ${reason}`);
 * }, { keepAliveInterval: 30, maxMessageSize: 1024 * 1024 }));
 * ```
 *
 * @module
 */

export {
  type BinaryMessage,
  CloseCode,
  type CloseInfo,
  type Message,
  type TextMessage,
  type Transport,
  validateClose,
} from "./src/message.ts";
export { Socket, SocketClosedError, type SocketOptions } from "./src/socket.ts";
export type { ResumeOptions, SessionInfo } from "./src/session/options.ts";
export { MemorySessionStore } from "./src/session/session_store.ts";
export type {
  SessionRecord,
  SessionStore,
  SessionUpdate,
  TakeCheck,
} from "./src/session/session_store.ts";
export {
  type AllowedOrigins,
  HandshakeError,
  isWebSocketRequest,
} from "./src/handshake.ts";
export {
  upgrade,
  type UpgradeOptions,
  type UpgradeResult,
} from "./src/upgrade.ts";
export type {
  Authenticate,
  AuthenticateOptions,
  Principal,
} from "./src/auth/principal.ts";
export { ForbiddenError } from "./src/auth/forbidden_error.ts";
export {
  type RequestHandler,
  type Route,
  route,
  type RouteOptions,
  type RouteStats,
  type SocketHandler,
} from "./src/route.ts";
export type {
  ConnectionEvent,
  ConnectionObserver,
  HandshakeEvent,
  HubStats,
  ObservedBackplane,
  ObservedHub,
  Observer,
  RpcCallObserver,
  RpcServeObserver,
} from "./src/observe.ts";
