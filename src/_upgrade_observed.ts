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
import {
  type CheckedUpgradeOptions,
  upgradeChecked,
  type UpgradeResult,
} from "./upgrade.ts";

/**
 * Upgrades like {@linkcode upgradeChecked} and tells `observer`.
 *
 * @param request The incoming request.
 * @param checked The checked options.
 * @param observer The observer.
 * @returns The socket and the 101 response.
 * @throws {HandshakeError} When the handshake is refused (reported first).
 */
export function upgradeObserved(
  request: Request,
  checked: CheckedUpgradeOptions,
  observer: Observer,
): UpgradeResult {
  const startTime = now();
  const event = { request, route: undefined, transport: "websocket" } as const;
  let upgraded: ReturnType<typeof upgradeChecked>;
  try {
    upgraded = upgradeChecked(request, checked);
  } catch (error) {
    if (error instanceof HandshakeError) {
      observeHandshake(observer, { ...event, status: error.status, startTime });
    }
    throw error;
  }
  observeHandshake(observer, { ...event, status: 101, startTime });
  const { socket, session } = upgraded;
  if (session === undefined) observeConnection(observer, { ...event, socket });
  else {
    // A connection that resumes an earlier session never opens this one.
    session.addEventListener(
      "open",
      () => observeConnection(observer, { ...event, socket }, session),
      { once: true },
    );
  }
  return upgraded;
}
