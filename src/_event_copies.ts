/**
 * Copies of a WebSocket's events for the objects that wrap one (a resume
 * link, a control link) to dispatch: an event cannot be dispatched twice.
 * Internal; runs in browsers.
 *
 * @module
 */

/**
 * A copy of an `error` event, with its message.
 *
 * @param event The WebSocket's event.
 * @returns The copy.
 */
export function errorCopy(event: Event): ErrorEvent {
  return new ErrorEvent("error", { message: (event as ErrorEvent).message });
}

/**
 * A copy of a `close` event, with its code, reason and cleanness.
 *
 * @param event The WebSocket's event.
 * @returns The copy.
 */
export function closeCopy(event: Event): CloseEvent {
  const { code, reason, wasClean } = event as CloseEvent;
  return new CloseEvent("close", { code, reason, wasClean });
}
