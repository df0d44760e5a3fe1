/**
 * The values of `WebSocket.readyState`, by name: the one home for them
 * (the global `WebSocket` constants are missing where there is no
 * `WebSocket`, and the fallback's objects mirror them). Internal.
 *
 * @module
 */

/** The connection is being opened. */
export const CONNECTING = 0;
/** The connection is open: messages flow. */
export const OPEN = 1;
/** The closing handshake has started. */
export const CLOSING = 2;
/** The connection is closed. */
export const CLOSED = 3;
