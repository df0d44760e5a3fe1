/**
 * The hub's `authorizeJoin` check. Internal.
 *
 * @module
 */

import type { Principal } from "../auth/principal.ts";
import { ForbiddenError } from "../auth/forbidden_error.ts";

/**
 * Asks `authorizeJoin` whether a connection may join a room.
 *
 * @param authorizeJoin The hub's option.
 * @param principal The connection's principal.
 * @param id The connection's id.
 * @param room The room.
 * @throws {ForbiddenError} Unless it returns `true`.
 * @throws {TypeError} When it returns a promise: it must decide at once.
 */
export function authorize(
  authorizeJoin: (principal: Principal | undefined, room: string) => boolean,
  principal: Principal | undefined,
  id: string,
  room: string,
): void {
  const allowed: unknown = authorizeJoin(principal, room);
  if (allowed === true) return;
  if (typeof (allowed as PromiseLike<unknown> | null)?.then === "function") {
    throw new TypeError(
      "Invalid authorizeJoin: it returned a promise; it must return a boolean (join() is synchronous)",
    );
  }
  throw new ForbiddenError(
    `Forbidden: connection ${id} may not join room "${room}"`,
    { room },
  );
}
