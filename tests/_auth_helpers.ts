/**
 * What the authentication tests share: HS256 tokens (the chat example's
 * helper), a route that checks them, and the handshake as `npm:ws`, Deno's
 * `WebSocket` and the fallback's stream see it.
 *
 * @module
 */

import type { IncomingMessage } from "node:http";
import WS from "npm:ws@8";
import { type Claims, hmacKey, signJwt, verifyJwt } from "../examples/_jwt.ts";
import { route, type RouteOptions, type SocketHandler } from "../mod.ts";

export const key: CryptoKey = await hmacKey("test secret of the auth tests");
const otherKey = await hmacKey("someone else's secret");

/** The principal the test routes make of a token. */
export interface User {
  sub: string;
  expiresAt: number;
  token: string;
  /** The token's claims. */
  claims: Claims;
}

/** A token for `sub` that expires in `ms` (signed with another key: `wrong`). */
export function token(
  sub: string,
  ms = 60_000,
  { wrong = false, claims = {} }: {
    wrong?: boolean;
    claims?: Record<string, unknown>;
  } = {},
): Promise<string> {
  const body: Claims = { ...claims, sub, exp: (Date.now() + ms) / 1000 };
  return signJwt(body, wrong ? otherKey : key);
}

/**
 * The test routes' `authenticate`: a good token makes a {@linkcode User};
 * `mallory` is refused with 403; anything else with 401.
 */
export async function authenticate(
  _request: Request,
  { token }: { token: string | undefined },
): Promise<User | Response | undefined> {
  if (token === undefined) return undefined;
  const claims = await verifyJwt(token, key);
  if (claims === undefined) return undefined;
  if (claims.sub === "mallory") {
    return new Response("Forbidden: mallory\n", { status: 403 });
  }
  return { sub: claims.sub, expiresAt: claims.exp * 1000, token, claims };
}

/**
 * A route on `/ws` (both transports) that checks tokens and greets with
 * `hello <sub>`, then echoes `<data> as <sub> with <token tail>`.
 */
export function authRoute(
  options: RouteOptions<User> = {},
  handler?: SocketHandler<User>,
): ReturnType<typeof route> {
  return route<User>(
    "/ws",
    handler ?? (async (socket) => {
      await socket.send(`hello ${socket.principal.sub}`);
      for await (const msg of socket) {
        await socket.send(`${msg.data} as ${socket.principal.sub}`);
      }
    }),
    { transports: ["websocket", "sse"], authenticate, ...options },
  );
}

/** An open client connection, as the handshake helpers give it. */
export interface Opened {
  /** The first message the server sent. */
  first: string;
  /** The subprotocol the server chose. */
  protocol: string;
  /** The close code and reason, once closed. */
  closed: Promise<{ code: number; reason: string }>;
  /** Closes with 1000 and waits for the close. */
  close(): Promise<{ code: number; reason: string }>;
}

/** A handshake: open, or refused with a status. */
export type Handshake = (
  url: string,
  options?: { protocols?: string[]; headers?: Record<string, string> },
) => Promise<Opened | { status: number }>;

/** Opens an `npm:ws` client: once it has a first message, or refused. */
export const wsHandshake: Handshake = (url, options = {}) => {
  const client = new WS(url, options.protocols ?? [], {
    headers: options.headers ?? {},
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    client.once(
      "close",
      (code: number, reason: Uint8Array) =>
        resolve({ code, reason: String(reason) }),
    )
  );
  return new Promise((resolve, reject) => {
    client.once("message", (data: Uint8Array) =>
      resolve({
        first: String(data),
        protocol: client.protocol,
        closed,
        close: () => (client.close(1000), closed),
      }));
    client.once(
      "unexpected-response",
      (_request: unknown, response: IncomingMessage) => {
        response.resume();
        resolve({ status: response.statusCode ?? 0 });
        client.terminate();
      },
    );
    client.once("error", (error: Error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });
};

/**
 * Opens Deno's `WebSocket`: once it has a first message, or refused (Deno
 * reports "Invalid status code: 401" in the error event).
 */
export const denoHandshake: Handshake = (url, options = {}) => {
  const ws = new WebSocket(url, {
    protocols: options.protocols ?? [],
    headers: options.headers ?? {},
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.addEventListener(
      "close",
      (e) => resolve({ code: e.code, reason: e.reason }),
      { once: true },
    )
  );
  return new Promise((resolve, reject) => {
    ws.onmessage = (e) =>
      resolve({
        first: String(e.data),
        protocol: ws.protocol,
        closed,
        close: () => (ws.close(1000), closed),
      });
    ws.onerror = (e) => {
      const status = /status code: (\d+)/.exec((e as ErrorEvent).message);
      if (status) resolve({ status: Number(status[1]) });
      else reject(new Error((e as ErrorEvent).message));
    };
  });
};
