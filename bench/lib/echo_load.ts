/**
 * The echo load that bench/scenarios/sse.ts and bench/lib/echo_client.ts
 * (for sse_paired.ts) put on Switchboard's own client: `CONNECTIONS`
 * connections, each keeping `IN_FLIGHT` messages of `SIZE` bytes of text in
 * flight, numbered so that every echo can be checked (same text, in order).
 *
 * @module
 */

import type { Client } from "@switchboard/switchboard/client";

/** Connections of the throughput load, and messages each keeps in flight. */
export const CONNECTIONS = 10;
export const IN_FLIGHT = 10;
/** The bytes of each message. */
export const SIZE = 64;

/**
 * The text of message `seq`: `SIZE` bytes, the number at the end.
 *
 * @param seq The message's sequence number.
 * @returns Its text.
 */
export function payload(seq: number): string {
  const digits = String(seq);
  return "x".repeat(SIZE - digits.length) + digits;
}

/** One client connection and its reader, with sequence numbers. */
export interface EchoConn<M = unknown> {
  client: Client;
  reader: AsyncIterator<M>;
  /** The next sequence number to send, and to expect back. */
  sent: number;
  received: number;
}

/**
 * `IN_FLIGHT` messages in flight on each connection for `seconds`: each echo
 * received before the window ends counts and is replaced by a new message.
 * What is still in flight then is left for {@linkcode drain}.
 *
 * @param conns The connections.
 * @param seconds The window's length.
 * @param echo Waits for a connection's next echo and checks it.
 * @returns The echoes counted, and the seconds the window took.
 */
export async function echoWindow<C extends EchoConn>(
  conns: C[],
  seconds: number,
  echo: (conn: C) => Promise<void>,
): Promise<{ count: number; elapsed: number }> {
  const start = performance.now();
  const end = start + seconds * 1000;
  const counts = await Promise.all(conns.map(async (conn) => {
    let count = 0;
    for (let i = 0; i < IN_FLIGHT; i++) {
      await conn.client.send(payload(conn.sent++));
    }
    while (performance.now() < end) {
      await echo(conn);
      if (performance.now() >= end) break;
      count++;
      await conn.client.send(payload(conn.sent++));
    }
    return count;
  }));
  return {
    count: counts.reduce((a, b) => a + b, 0),
    elapsed: (performance.now() - start) / 1000,
  };
}

/**
 * Waits for the echoes still in flight, uncounted.
 *
 * @param conns The connections.
 * @param echo Waits for a connection's next echo and checks it.
 */
export async function drain<C extends EchoConn>(
  conns: C[],
  echo: (conn: C) => Promise<void>,
): Promise<void> {
  await Promise.all(conns.map(async (conn) => {
    while (conn.received < conn.sent) await echo(conn);
  }));
}
