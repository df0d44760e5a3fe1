/**
 * The types of authentication: {@linkcode Principal}, what an
 * {@linkcode Authenticate} hook returns, and {@linkcode AuthenticateOptions},
 * what it is given besides the request.
 *
 * @module
 */

/**
 * Who is on the other end of a connection: any object your `authenticate`
 * hook returns. Switchboard reads two optional fields of it:
 *
 * - `sub`, the subject (a user id, as in a JWT's `sub` claim): a refresh in
 *   place must keep it, or the socket closes with 4003 "Subject changed";
 * - `expiresAt`, when the credential expires, in **milliseconds** since the
 *   epoch (a JWT's `exp` is in seconds: multiply by 1000): then the socket
 *   closes with 4001 "Token expired" unless it was refreshed in place.
 *
 * Everything else is yours: type it through the generic of `route()`
 * (`route<User>(...)`), and `socket.principal` is a `User` in the handler.
 *
 * @example A principal with claims of its own
 * ```ts
 * import type { Principal } from "@switchboard/switchboard";
 *
 * interface User {
 *   sub: string;
 *   expiresAt: number;
 *   roles: string[];
 * }
 * const user: User = { sub: "alice", expiresAt: Date.now() + 60_000, roles: [] };
 * const principal: Principal = user;
 * console.log(principal.sub); // alice
 * ```
 */
export type Principal = object & {
  /** The subject: who this is. A refresh in place must keep it. */
  readonly sub?: string;
  /** When the credential expires, in milliseconds since the epoch. */
  readonly expiresAt?: number;
};

/**
 * What an {@linkcode Authenticate} hook is given besides the request.
 *
 * @example Reading the token
 * ```ts
 * import type { AuthenticateOptions } from "@switchboard/switchboard";
 *
 * const options: AuthenticateOptions = { token: "abc" };
 * console.log(options.token ?? "no token");
 * ```
 */
export interface AuthenticateOptions {
  /**
   * The credential the request carries, found in this order: an
   * `Authorization: Bearer <token>` header, the `Sec-WebSocket-Protocol`
   * offer `switchboard.bearer.<base64url of the token>` (what the browser
   * client sends; never chosen as the subprotocol), then an `access_token`
   * query parameter. `undefined` when there is none (a cookie may still
   * authenticate the request). On a refresh in place, the new token.
   */
  readonly token: string | undefined;
}

/**
 * The `authenticate` option of `route()` and `upgrade()`: decides who a
 * request is, before the upgrade (and before the fallback transport opens a
 * session), and again for each refresh in place. It may be async.
 *
 * - a principal (any object; see {@linkcode Principal}) accepts: the
 *   socket's `principal` holds it;
 * - a `Response` refuses with that response (a 403, say);
 * - `undefined` refuses with 401 and `WWW-Authenticate: Bearer`;
 * - a throw refuses with 500 (its message never reaches the client) and is
 *   reported to the route's `onError`.
 *
 * @typeParam P The principal's type.
 *
 * @example Checking a bearer token
 * ```ts
 * import type { Authenticate } from "@switchboard/switchboard";
 *
 * const tokens = new Map([["secret-1", "alice"]]);
 * const authenticate: Authenticate<{ sub: string }> = (_request, { token }) => {
 *   const sub = token === undefined ? undefined : tokens.get(token);
 *   return sub === undefined ? undefined : { sub };
 * };
 * console.log(
 *   await authenticate(new Request("http://localhost/ws"), { token: "secret-1" }),
 * ); // { sub: "alice" }
 * ```
 */
export type Authenticate<P extends Principal = Principal> = (
  request: Request,
  options: AuthenticateOptions,
) =>
  | P
  | Response
  | undefined
  | Promise<P | Response | undefined>;
