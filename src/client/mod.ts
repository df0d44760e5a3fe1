/**
 * A reconnecting WebSocket client for browsers and Deno: `connect(url)`
 * returns a {@linkcode Client} that reads like a loop across reconnects,
 * retries with exponential backoff and full jitter, and keeps what you send
 * while the connection is away in a bounded outbox.
 *
 * With `transports: ["websocket", "sse"]` it falls back to Server-Sent
 * Events and POSTs when the network breaks WebSocket upgrades (the server's
 * `route()` must list the same transports).
 *
 * This module uses no Deno API: it runs unchanged in a browser (as
 * JavaScript built by `deno task build:client`) and in Deno.
 *
 * @example Reading and writing across reconnects
 * ```ts ignore
 * import { connect } from "@switchboard/switchboard/client";
 *
 * const client = connect("ws://127.0.0.1:8000/ws", { maxRetries: 10 });
 * client.addEventListener("statechange", () => console.log(client.state));
 * await client.send("hello"); // queued until the connection is open
 * for await (const msg of client) console.log(msg.data);
 * console.log("gave up:", await client.closed);
 * ```
 *
 * @module
 */

export { Client } from "./client.ts";
export { connect } from "./connect.ts";
export {
  ClientEvent,
  type ClientEventInit,
  type ClientEventMap,
  type ClientState,
} from "./events.ts";
export { OutboxFullError } from "./errors.ts";
export type { ClientOptions } from "./options.ts";
export {
  type BinaryMessage,
  CloseCode,
  type CloseInfo,
  type Message,
  type TextMessage,
  type Transport,
} from "../message.ts";
export { SocketClosedError } from "../socket.ts";
export type { Fetch } from "../sse/client.ts";
export type { ResumeOptions, SessionInfo } from "../session/options.ts";
export {
  type Room,
  RoomEvent,
  type RoomEventMap,
  type Rooms,
} from "./rooms.ts";
export type { Position, RoomMessage } from "../hub/wire.ts";
export { TypedEventTarget } from "../_typed_event_target.ts";
