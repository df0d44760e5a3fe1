/**
 * The server's side of authentication for one route (or one `upgrade()`):
 * runs the `authenticate` hook for a handshake or a fallback stream (the
 * token, the answer for a refusal, the cookie and origin rule) and again for
 * each refresh in place, checks what it returns, and reports what failed.
 * Internal.
 *
 * @module
 */

import { type AllowedOrigins, HandshakeError } from "../handshake.ts";
import { plain } from "../_plain.ts";
import type { Authenticate, Principal } from "./principal.ts";
import { findToken, redact, redactRequest } from "./_token.ts";

/** Told what went wrong: a throw from `authenticate`, a misconfiguration. */
export type Report = (error: unknown, request: Request) => void;

/** A principal's `expiresAt` below this is taken for seconds (a JWT `exp`). */
const SECONDS_NOT_MILLISECONDS = 1e11;

/**
 * Checks an `authenticate` option.
 *
 * @param value The option as given.
 * @returns The hook, or `undefined` when there is none.
 * @throws {TypeError} When it is not a function.
 */
export function checkAuthenticate(value: unknown): Authenticate | undefined {
  if (value !== undefined && typeof value !== "function") {
    throw new TypeError(
      `Invalid authenticate: expected a function, got ${typeof value}`,
    );
  }
  return value as Authenticate | undefined;
}

/**
 * The default report of `upgrade()`, which has no `onError`: one line of
 * text, with the request's URL (without a token).
 *
 * @param error What failed.
 * @param request The request, already without a token in its URL.
 */
export function logAuthError(error: unknown, request: Request): void {
  const text = error instanceof Error
    ? error.stack ?? `${error.name}: ${error.message}`
    : String(error);
  console.error(
    `Switchboard: authentication failed for ${request.method} ${request.url}: ${text}`,
  );
}

/**
 * A refused authentication as `upgrade()` throws it: a
 * {@linkcode HandshakeError} whose `response` is the refusal (the hook's own
 * `Response`, a 401, a 403 or a 500).
 *
 * @param response The refusal.
 * @returns The error.
 */
export function refusal(response: Response): HandshakeError {
  return new Refusal(response);
}

/** A {@linkcode HandshakeError} that answers with a given response. */
class Refusal extends HandshakeError {
  readonly #response: Response;

  constructor(response: Response) {
    super(
      response.status,
      `Authentication refused the handshake: ${response.status}`,
    );
    this.#response = response;
  }

  /** A copy of the refusal each time it is read. */
  override get response(): Response {
    return this.#response.clone();
  }
}

/** Runs one route's `authenticate` hook and judges what it returns. */
export class Authenticator {
  readonly #authenticate: Authenticate;
  readonly #origins: AllowedOrigins | undefined;
  readonly #report: Report;
  /** The missing-allowedOrigins mistake is reported once, not per request. */
  #toldOrigins = false;

  /**
   * @param authenticate The hook.
   * @param origins The route's checked `allowedOrigins`.
   * @param report Told a throw from the hook and a misconfiguration.
   */
  constructor(
    authenticate: Authenticate,
    origins: AllowedOrigins | undefined,
    report: Report,
  ) {
    this.#authenticate = authenticate;
    this.#origins = origins;
    this.#report = report;
  }

  /**
   * Decides a handshake (or a fallback stream) whose other checks passed.
   *
   * @param request The request.
   * @returns The principal, or the answer that refuses: the hook's own
   * `Response`; 401 with `WWW-Authenticate: Bearer` for `undefined` or a
   * principal already expired; 403 for a cookie-authenticated browser
   * request on a route without `allowedOrigins`; 500 when the hook threw or
   * returned something else (reported, never shown to the client).
   */
  async check(request: Request): Promise<Principal | Response> {
    const watched = watchCookies(request);
    const outcome = await this.#run(watched.request, findToken(request));
    if (outcome === "failed") {
      return plain(500, "Internal server error: authentication failed");
    }
    if (outcome instanceof Response) return outcome;
    if (outcome === undefined) {
      return unauthorized("the request carries no valid credentials");
    }
    if (outcome.expiresAt !== undefined && outcome.expiresAt <= Date.now()) {
      return unauthorized("the token has expired");
    }
    const origin = request.headers.get("origin");
    if (watched.read() && origin !== null && this.#origins === undefined) {
      // A browser sends its cookies with a WebSocket handshake from any
      // page: without a list of origins, another site could connect as
      // the user (cross-site WebSocket hijacking).
      if (!this.#toldOrigins) {
        this.#toldOrigins = true;
        this.#report(
          new Error(
            "authenticate read the Cookie header of a request from a browser (Origin: " +
              `${origin}), but the route has no allowedOrigins: such requests are refused ` +
              "with 403 until allowedOrigins lists the origins of your pages",
          ),
          redactRequest(request),
        );
      }
      return plain(
        403,
        `Forbidden: this route authenticates with cookies and allows no origin; origin ${origin} may not connect`,
      );
    }
    return outcome;
  }

  /**
   * Runs the hook for a refresh in place, with the handshake request (its
   * `Authorization` header set to the new token) and the new token.
   *
   * @param request The handshake request.
   * @param token The new token.
   * @returns The new principal; `"refused"` for a `Response` or
   * `undefined`; `"failed"` when the hook threw or returned something else
   * (reported).
   */
  async refresh(
    request: Request,
    token: string,
  ): Promise<Principal | "refused" | "failed"> {
    const headers = new Headers(request.headers);
    headers.set("authorization", `Bearer ${token}`);
    const outcome = await this.#run(
      new Request(request.url, { headers }),
      token,
    );
    if (outcome === undefined || outcome instanceof Response) {
      return "refused";
    }
    return outcome;
  }

  /** Calls the hook; a throw or a wrong answer is reported as `"failed"`. */
  async #run(
    request: Request,
    token: string | undefined,
  ): Promise<Principal | Response | undefined | "failed"> {
    try {
      const outcome = await this.#authenticate(request, { token });
      if (outcome === undefined || outcome instanceof Response) return outcome;
      return checkPrincipal(outcome);
    } catch (error) {
      try {
        this.#report(error, redactRequest(request));
      } catch (reportError) {
        console.error("Switchboard: onError threw", reportError);
      }
      return "failed";
    }
  }
}

/**
 * Checks what `authenticate` returned as a principal.
 *
 * @param value The value.
 * @returns The principal.
 * @throws {TypeError} When it is not an object, or `sub` or `expiresAt` has
 * the wrong type (or `expiresAt` looks like seconds).
 */
function checkPrincipal(value: unknown): Principal {
  if (value === null || typeof value !== "object") {
    throw new TypeError(
      `Invalid principal: authenticate must return an object, a Response or undefined, got ${
        value === null ? "null" : typeof value
      }`,
    );
  }
  const { sub, expiresAt } = value as Record<string, unknown>;
  if (sub !== undefined && typeof sub !== "string") {
    throw new TypeError(
      `Invalid principal: sub must be a string, got ${typeof sub}`,
    );
  }
  if (expiresAt !== undefined) {
    if (typeof expiresAt !== "number" || !Number.isFinite(expiresAt)) {
      throw new TypeError(
        `Invalid principal: expiresAt must be a number of milliseconds since the epoch, got ${
          redact(String(expiresAt))
        }`,
      );
    }
    if (expiresAt < SECONDS_NOT_MILLISECONDS) {
      throw new TypeError(
        `Invalid principal: expiresAt is in milliseconds since the epoch; ${expiresAt} looks like seconds (a JWT exp): multiply it by 1000`,
      );
    }
  }
  return value as Principal;
}

/**
 * The request as `authenticate` sees it, telling afterwards whether the hook
 * read its Cookie header (by name, or by going through all headers). A
 * request without cookies is given as it is.
 */
function watchCookies(
  request: Request,
): { request: Request; read: () => boolean } {
  if (!request.headers.has("cookie")) return { request, read: () => false };
  let read = false;
  const headers = new Proxy(request.headers, {
    get(target, key) {
      const value = Reflect.get(target, key, target);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (key === "get" || key === "has") {
          if (String(args[0]).toLowerCase() === "cookie") read = true;
        } else if (
          key === "entries" || key === "values" || key === "forEach" ||
          key === Symbol.iterator
        ) read = true;
        return value.apply(target, args);
      };
    },
  });
  const watched = new Proxy(request, {
    get(target, key) {
      if (key === "headers") return headers;
      const value = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { request: watched, read: () => read };
}

function unauthorized(why: string): Response {
  return new Response(`Unauthorized: ${why}\n`, {
    status: 401,
    headers: {
      "content-type": "text/plain; charset=utf-8",
      "www-authenticate": "Bearer",
    },
  });
}
