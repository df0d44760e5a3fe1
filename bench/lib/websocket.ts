/**
 * Helpers over the standard `WebSocket` client, for the scenarios that load
 * a server through it (the soak, the fan-out, the JSON-RPC floor): open,
 * one echo, close, each bounded in time.
 *
 * @module
 */

/**
 * Opens a WebSocket.
 *
 * @param url The `ws://` URL.
 * @param ms The longest wait for the open.
 * @returns The open WebSocket.
 * @throws {Error} On an error event or after `ms`.
 */
export function openWebSocket(url: string, ms = 10_000): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const timer = setTimeout(() => {
      ws.close();
      reject(new Error("open timed out"));
    }, ms);
    ws.onopen = () => {
      clearTimeout(timer);
      resolve(ws);
    };
    ws.onerror = (e) => {
      clearTimeout(timer);
      reject(new Error((e as ErrorEvent).message || "error"));
    };
  });
}

/**
 * Sends a text and waits for the next message.
 *
 * @param ws An open WebSocket.
 * @param text The text.
 * @param ms The longest wait.
 * @returns Whether the same text came back in time.
 */
export function echoOnce(
  ws: WebSocket,
  text: string,
  ms = 10_000,
): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => done(false), ms);
    function done(ok: boolean) {
      clearTimeout(timer);
      ws.removeEventListener("message", onMessage);
      ws.removeEventListener("close", onClose);
      resolve(ok);
    }
    function onMessage(e: MessageEvent) {
      done(e.data === text);
    }
    function onClose() {
      done(false);
    }
    ws.addEventListener("message", onMessage);
    ws.addEventListener("close", onClose);
    ws.send(text);
  });
}

/**
 * Closes with 1000 and waits for the close.
 *
 * @param ws The WebSocket.
 * @param ms The longest wait.
 * @returns The close code the client saw: 1006 when it was already closed,
 * 0 when no close came within `ms`.
 */
export function closeWebSocket(ws: WebSocket, ms = 10_000): Promise<number> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve(1006);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(0), ms);
    ws.addEventListener("close", (e) => {
      clearTimeout(timer);
      resolve(e.code);
    }, { once: true });
    ws.close(1000);
  });
}
