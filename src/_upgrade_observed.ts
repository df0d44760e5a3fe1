/**
 * `upgrade()` with an observer: the handshake (accepted or refused) and the
 * connection are reported. Internal; a route reports its own.
 *
 * @module
 */

import { HandshakeError } from "./handshake.ts";
import {
  now,
  observeConnection,
  observeHandshake,
  type Observer,
} from "./observe.ts";
import type { UpgradeResult } from "./upgrade.ts";
import type { ServerSession } from "./session/server.ts";

/** What an upgrade gives: the socket, the 101, a resumable session's. */
type Upgraded = UpgradeResult & { session?: ServerSession };

/**
 * Upgrades with `accept` (at once, or once `authenticate` decided) and tells
 * `observer` of the handshake, accepted or refused, and of the connection.
 *
 * @param request The incoming request.
 * @param observer The observer.
 * @param accept The upgrade.
 * @returns The socket and the 101 response, or a promise of them.
 * @throws {HandshakeError} When the handshake is refused (reported first).
 */
export function upgradeObserved(
  request: Request,
  observer: Observer,
  accept: () => Upgraded | Promise<Upgraded>,
): Upgraded | Promise<Upgraded> {
  const startTime = now();
  const event = { request, route: undefined, transport: "websocket" } as const;
  const refused = (error: unknown): never => {
    if (error instanceof HandshakeError) {
      observeHandshake(observer, { ...event, status: error.status, startTime });
    }
    throw error;
  };
  const accepted = (upgraded: Upgraded): Upgraded => {
    observeHandshake(observer, { ...event, status: 101, startTime });
    const { socket, session } = upgraded;
    if (session === undefined) {
      observeConnection(observer, { ...event, socket });
    } else {
      // A connection that resumes an earlier session never opens this one.
      session.addEventListener(
        "open",
        () => observeConnection(observer, { ...event, socket }, session),
        { once: true },
      );
    }
    return upgraded;
  };
  let result: Upgraded | Promise<Upgraded>;
  try {
    result = accept();
  } catch (error) {
    return refused(error);
  }
  return result instanceof Promise
    ? result.then(accepted, refused)
    : accepted(result);
}
