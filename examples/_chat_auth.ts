/**
 * The chat example's `--auth` mode: signing in with a name sets a session
 * cookie (an HS256 JWT, HttpOnly, for 12 hours); the page trades it for a
 * short-lived access token (`POST /token`) before each connection and for
 * each refresh in place; the WebSocket route's `authenticate` checks the
 * access token. The cookie never authenticates the WebSocket itself, so no
 * other site can connect as the user (cross-site WebSocket hijacking).
 *
 * No password: it is an example of tokens, not of accounts.
 *
 * @module
 */

import type { Authenticate, Principal } from "../mod.ts";
import { type Claims, hmacKey, signJwt, verifyJwt } from "./_jwt.ts";

/** Who a chat connection is: the name signed in with, until when. */
export interface ChatUser extends Principal {
  sub: string;
  expiresAt: number;
}

/** The `--auth` mode's endpoints and the route's `authenticate`. */
export interface ChatAuth {
  /** Answers `POST /login` and `POST /token`; `undefined` for the rest. */
  handle(request: Request): Promise<Response> | undefined;
  /** Checks an access token: its `sub` and `exp` make the principal. */
  authenticate: Authenticate<ChatUser>;
}

const SESSION_COOKIE = "chat_session";
const SESSION_SECONDS = 12 * 60 * 60;

/**
 * Makes the `--auth` mode with a fresh random key (tokens do not outlive
 * the process).
 *
 * @param ttl Seconds an access token lives.
 * @param validName Whether a name may sign in.
 */
export async function chatAuth(
  ttl: number,
  validName: (name: string) => boolean,
): Promise<ChatAuth> {
  const key = await hmacKey(crypto.getRandomValues(new Uint8Array(32)));
  const now = () => Date.now() / 1000;

  async function login(request: Request): Promise<Response> {
    const { name } = await request.json().catch(() => ({})) as {
      name?: unknown;
    };
    if (typeof name !== "string" || !validName(name.trim())) {
      return text(400, "Pick a name of 1-24 letters, digits, spaces, _.-");
    }
    const session = await signJwt({
      sub: name.trim(),
      kind: "session",
      exp: now() + SESSION_SECONDS,
    }, key);
    return new Response(null, {
      status: 204,
      headers: {
        "set-cookie":
          `${SESSION_COOKIE}=${session}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${SESSION_SECONDS}`,
      },
    });
  }

  async function token(request: Request): Promise<Response> {
    const cookie = request.headers.get("cookie") ?? "";
    const session = new RegExp(`(?:^|;\\s*)${SESSION_COOKIE}=([^;]+)`)
      .exec(cookie)?.[1];
    const claims = session && await verifyJwt(session, key);
    if (!claims || claims.kind !== "session") {
      return text(401, "Sign in first");
    }
    const access: Claims = {
      sub: claims.sub,
      kind: "access",
      exp: now() + ttl,
    };
    return Response.json({ token: await signJwt(access, key) });
  }

  return {
    handle(request) {
      if (request.method !== "POST") return undefined;
      const path = new URL(request.url).pathname;
      if (path === "/login") return login(request);
      if (path === "/token") return token(request);
      return undefined;
    },
    async authenticate(_request, { token }) {
      const claims = token && await verifyJwt(token, key);
      if (!claims || claims.kind !== "access") return undefined;
      return { sub: claims.sub, expiresAt: claims.exp * 1000 };
    },
  };
}

function text(status: number, body: string): Response {
  return new Response(`${body}\n`, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}
