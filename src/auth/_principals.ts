/**
 * Which principal each authenticated socket holds, for `socket.principal`:
 * kept beside the socket (a `WeakMap`), so that a socket without
 * authentication carries nothing for it. Internal; runs in browsers.
 *
 * @module
 */

import type { Principal } from "./principal.ts";

/** What holds a socket's principal (it changes on a refresh in place). */
export interface PrincipalHolder {
  readonly principal: Principal;
}

const holders = new WeakMap<object, PrincipalHolder>();

/**
 * The principal of a socket.
 *
 * @param socket The socket.
 * @returns Its principal, or `undefined` when it was not authenticated.
 */
export function principalOf(socket: object): Principal | undefined {
  return holders.get(socket)?.principal;
}

/**
 * Gives a socket its principal's holder.
 *
 * @param socket The socket.
 * @param holder What holds its principal from now on.
 */
export function holdPrincipal(socket: object, holder: PrincipalHolder): void {
  holders.set(socket, holder);
}
