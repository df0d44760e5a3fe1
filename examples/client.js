// Built from src/client.ts by `deno task build:client`: do not edit.
// deno-lint-ignore-file
// src/message.ts
function checkTransports(value) {
  if (!Array.isArray(value) || value.length === 0) {
    throw new TypeError(
      'Invalid transports: expected a non-empty list of "websocket" and "sse"',
    );
  }
  for (const item of value) {
    if (item !== "websocket" && item !== "sse") {
      throw new TypeError(
        `Invalid transports: unknown transport ${
          JSON.stringify(item)
        }; expected "websocket" or "sse"`,
      );
    }
  }
  return [
    ...new Set(value),
  ];
}
var CloseCode = {
  /** 1000: the purpose of the connection was fulfilled. */
  NormalClosure: 1e3,
  /** 1001: the endpoint is going away (server shutdown, page navigation). */
  GoingAway: 1001,
  /** 1002: the peer broke the protocol. */
  ProtocolError: 1002,
  /** 1003: the endpoint received a type of data it cannot accept. */
  UnsupportedData: 1003,
  /** 1005: reported when a close frame carried no code; never sent. */
  NoStatusReceived: 1005,
  /** 1006: reported when the connection ended without a close frame; never sent. */
  AbnormalClosure: 1006,
  /** 1007: a message's data was not consistent with its type. */
  InvalidPayload: 1007,
  /** 1008: a message violated the endpoint's policy. */
  PolicyViolation: 1008,
  /** 1009: a message was too big to process. */
  MessageTooBig: 1009,
  /** 1010: the client expected an extension the server did not negotiate. */
  MandatoryExtension: 1010,
  /** 1011: the server hit an unexpected condition. */
  InternalError: 1011,
  /** 1012: the server is restarting. */
  ServiceRestart: 1012,
  /** 1013: the server is overloaded; try again later. */
  TryAgainLater: 1013,
};
var MAX_CLOSE_REASON_BYTES = 123;
function utf8Length(text) {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 128) bytes += 1;
    else if (unit < 2048) bytes += 2;
    else if (
      unit >= 55296 && unit <= 56319 && i + 1 < text.length &&
      (text.charCodeAt(i + 1) & 64512) === 56320
    ) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}
function validateClose(code, reason) {
  if (typeof code !== "number") {
    throw new TypeError(
      `Invalid close code: expected a number, got ${typeof code}`,
    );
  }
  if (!Number.isInteger(code) || code !== 1e3 && (code < 3e3 || code > 4999)) {
    throw new RangeError(
      `Invalid close code ${code}: it must be 1000 or in the range 3000-4999`,
    );
  }
  if (typeof reason !== "string") {
    throw new TypeError(
      `Invalid close reason: expected a string, got ${typeof reason}`,
    );
  }
  if (
    reason.length > MAX_CLOSE_REASON_BYTES / 3 &&
    utf8Length(reason) > MAX_CLOSE_REASON_BYTES
  ) {
    throw new RangeError(
      `Invalid close reason: it is ${
        utf8Length(reason)
      } UTF-8 bytes long, the limit is ${MAX_CLOSE_REASON_BYTES}`,
    );
  }
}

// src/_validate.ts
function positiveInteger(name, value) {
  if (typeof value !== "number") {
    throw new TypeError(
      `Invalid ${name}: expected a number, got ${typeof value}`,
    );
  }
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(
      `Invalid ${name}: expected a positive whole number, got ${value}`,
    );
  }
  return value;
}
function optionalSignal(value) {
  if (value !== void 0 && !(value instanceof AbortSignal)) {
    throw new TypeError("Invalid signal: expected an AbortSignal");
  }
  return value;
}
function nonNegative(name, value) {
  if (typeof value !== "number") {
    throw new TypeError(
      `Invalid ${name}: expected a number, got ${typeof value}`,
    );
  }
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(
      `Invalid ${name}: expected 0 or a positive number, got ${value}`,
    );
  }
  return value;
}

// src/socket.ts
var SocketClosedError = class extends Error {
  /** The close code of the socket. */
  code;
  /** The close reason of the socket. */
  reason;
  /**
   * Makes the error.
   *
   * @param code The close code the socket closed (or is closing) with.
   * @param reason The close reason.
   * @param options Standard error options, such as `cause`.
   * @param closing Whether the close handshake is still under way.
   */
  constructor(code, reason, options, closing = false) {
    super(
      `Cannot send message: the socket ${
        closing ? "is closing" : "closed"
      } with code ${code}${reason ? ` (${reason})` : ""}`,
      options,
    );
    this.name = "SocketClosedError";
    this.code = code;
    this.reason = reason;
  }
};
var CONNECTING = 0;
var OPEN = 1;
var CLOSING = 2;
var CLOSED = 3;
var RESOLVED = Promise.resolve();
var DONE = Object.freeze({
  value: void 0,
  done: true,
});
var MAX_POLL_MS = 32;
var LISTEN = Object.freeze({
  capture: false,
});
var ONCE = Object.freeze({
  capture: false,
  once: true,
});
var captured;
function capture(resolve) {
  captured = resolve;
}
function take() {
  const resolve = captured;
  captured = void 0;
  return resolve;
}
var shutdown;
var dispatch;
var next;
var leave;
var counters;
var limitInbound;
var watch;
var Socket = class {
  #ws;
  #state;
  /** The `protocol` option; without it the wrapped socket's is read. */
  #protocol;
  #highWaterMark;
  #maxMessageSize;
  /** Text messages this many UTF-16 units long or shorter cannot be too big. */
  #maxChars;
  #maxQueued;
  #sendTimeout;
  /** Messages received and sent, for statistics and the rate limit. */
  #in = 0;
  #out = 0;
  /** Past this many received messages the socket closes with 1008. */
  #inLimit = Infinity;
  #stalledSince = 0;
  /** Messages no loop has asked for yet; made on first use. */
  #queue;
  #head = 0;
  /** The loop waiting for a message; a second waiter goes to #waiters. */
  #waiter;
  #waiters;
  #reading = false;
  #accepting = true;
  /** An upper bound on the runtime's bufferedAmount, read only when needed. */
  #buffered = 0;
  /** Sends waiting for the buffer to drain; made on first use. */
  #pending;
  #pollTimer;
  #pollDelay = 1;
  #closing;
  #soft = false;
  #softTimer;
  #frameSent = false;
  #info;
  #closed;
  #settle;
  /** The route's bookkeeping, told of the close without a promise. */
  #onFinish;
  #error = "";
  #signal;
  #listener;
  static {
    shutdown = (socket, code, reason) => socket.#shutdown(code, reason);
    dispatch = (socket, event) => socket.#dispatch(event);
    next = (socket) => socket.#next();
    leave = (socket) => {
      socket.#reading = false;
      socket.#shutdown(1e3, "", true);
      return Promise.resolve(DONE);
    };
    counters = (socket) => ({
      in: socket.#in,
      out: socket.#out,
    });
    limitInbound = (socket, limit) => socket.#inLimit = limit;
    watch = (socket, onClose) => {
      if (socket.#info) onClose(socket.#info);
      else socket.#onFinish = onClose;
    };
  }
  /**
   * Wraps a `WebSocket`. Its `binaryType` is set to `"arraybuffer"`.
   *
   * @param ws The WebSocket to wrap, in any state.
   * @param options Buffer and size limits, an abort signal, the protocol.
   * @throws {TypeError} When `ws` is not a WebSocket-like object or an option
   * has the wrong type.
   * @throws {RangeError} When a size option is not a positive integer.
   *
   * @example Wrapping a client WebSocket
   * ```ts ignore
   * import { Socket } from "@switchboard/switchboard";
   *
   * await using socket = new Socket(new WebSocket("wss://echo.example"));
   * await socket.send("hello");
   * for await (const msg of socket) console.log(msg);
   * ```
   */
  constructor(ws, options = {}) {
    if (
      ws === null || typeof ws !== "object" || typeof ws.send !== "function" ||
      typeof ws.addEventListener !== "function"
    ) {
      throw new TypeError("Cannot wrap socket: expected a WebSocket object");
    }
    const {
      highWaterMark = 1024 * 1024,
      maxMessageSize = 16 * 1024 * 1024,
      maxQueuedMessages = 1e5,
      sendTimeout = 3e4,
      signal,
      protocol,
    } = options;
    this.#highWaterMark = positiveInteger("highWaterMark", highWaterMark);
    this.#maxMessageSize = positiveInteger("maxMessageSize", maxMessageSize);
    this.#maxChars = Math.floor(this.#maxMessageSize / 3);
    this.#maxQueued = positiveInteger("maxQueuedMessages", maxQueuedMessages);
    this.#sendTimeout = nonNegative("sendTimeout", sendTimeout);
    if (protocol !== void 0 && typeof protocol !== "string") {
      throw new TypeError(
        `Invalid protocol: expected a string, got ${typeof protocol}`,
      );
    }
    optionalSignal(signal);
    this.#ws = ws;
    this.#protocol = protocol;
    ws.binaryType = "arraybuffer";
    this.#listener = new Listener(this);
    ws.addEventListener("message", this.#listener, LISTEN);
    ws.addEventListener("close", this.#listener, LISTEN);
    ws.addEventListener("error", this.#listener, LISTEN);
    this.#state = ws.readyState;
    if (this.#state === CONNECTING) {
      ws.addEventListener("open", this.#listener, ONCE);
    }
    if (this.#state === CLOSED) {
      this.#finish(1006, "The WebSocket was already closed", false);
    }
    if (signal) {
      this.#signal = signal;
      if (signal.aborted) this.#shutdown(1001, "Going away");
      else signal.addEventListener("abort", this.#listener, ONCE);
    }
  }
  /**
   * The subprotocol in use, `""` when none was negotiated (or, on a client
   * socket, until it opens).
   */
  get protocol() {
    return this.#protocol ?? this.#ws.protocol ?? "";
  }
  /**
   * The connection state, with the values of `WebSocket.readyState`:
   * 0 connecting, 1 open, 2 closing, 3 closed.
   */
  get readyState() {
    return this.#state;
  }
  /** Bytes handed to the runtime and not yet written to the network. */
  get bufferedAmount() {
    return this.#ws.bufferedAmount;
  }
  /**
   * Settles once, when the connection has closed, with its code, reason and
   * whether the close was clean. Never rejects.
   */
  get closed() {
    if (this.#closed === void 0) {
      if (this.#info) this.#closed = Promise.resolve(this.#info);
      else {
        this.#closed = new Promise(capture);
        this.#settle = take();
      }
    }
    return this.#closed;
  }
  /**
   * Sends a text (string) or binary (Uint8Array, ArrayBuffer) message.
   *
   * Resolves at once while the send buffer holds less than `highWaterMark`
   * bytes; otherwise waits until it drains. Messages go out in call order.
   *
   * @param data The message: a string is sent as text, bytes as binary.
   * @returns A promise that resolves once the message is handed to the
   * runtime.
   * @throws {SocketClosedError} (as a rejection) when the socket is closing or
   * closed, naming the close code.
   * @throws {TypeError} (as a rejection) when `data` is of another type.
   *
   * @example Sending text and bytes
   * ```ts ignore
   * await socket.send("hello");
   * await socket.send(new Uint8Array([1, 2, 3]));
   * ```
   */
  send(data) {
    let size;
    if (typeof data === "string") size = data.length * 3;
    else if (data instanceof Uint8Array) {
      size = data.byteLength;
      const buffer = data.buffer;
      if (
        data.byteOffset === 0 && buffer instanceof ArrayBuffer &&
        buffer.byteLength === size
      ) data = buffer;
    } else if (data instanceof ArrayBuffer) size = data.byteLength;
    else {
      return Promise.reject(
        new TypeError(
          "Cannot send message: expected a string, Uint8Array or ArrayBuffer",
        ),
      );
    }
    if (this.#state !== OPEN || this.#pending !== void 0) {
      return this.#sendLater(data, size);
    }
    if (this.#buffered >= this.#highWaterMark) {
      this.#buffered = this.#ws.bufferedAmount;
      if (this.#buffered >= this.#highWaterMark) {
        return this.#sendLater(data, size);
      }
    }
    this.#ws.send(data);
    this.#buffered += size;
    this.#out++;
    return RESOLVED;
  }
  /**
   * Starts the closing handshake. Calling it again, or after the peer closed,
   * does nothing, with one exception: it replaces the 1000 of a loop left
   * early whose close frame has not gone out yet (that waits one task).
   * Messages waiting for the send buffer to drain are written first.
   *
   * @param code The close code: 1000 or 3000-4999.
   * @param reason Up to 123 UTF-8 bytes.
   * @throws {RangeError} When the code or the reason is out of range.
   * @throws {TypeError} When the code is not a number or the reason not a
   * string.
   *
   * @example Closing with a reason
   * ```ts ignore
   * socket.close(4000, "session expired");
   * console.log(await socket.closed);
   * ```
   */
  close(code = 1e3, reason = "") {
    validateClose(code, reason);
    this.#shutdown(code, reason);
  }
  /**
   * Closes with 1000 if still open and waits for the connection to end.
   *
   * @returns A promise that resolves once the socket is closed.
   *
   * @example Scoped cleanup
   * ```ts ignore
   * {
   *   await using socket = new Socket(new WebSocket(url));
   *   await socket.send("bye");
   * } // closed here
   * ```
   */
  async [Symbol.asyncDispose]() {
    this.#shutdown(1e3, "", true);
    await this.closed;
  }
  /**
   * Iterates the messages in arrival order. The loop ends when the
   * connection closes; leaving it early (`break`, `return`, a throw) closes
   * the socket with 1000. One loop at a time.
   *
   * @returns The iterator.
   * @throws {TypeError} When another loop is already reading this socket.
   *
   * @example Reading until the peer closes
   * ```ts ignore
   * for await (const msg of socket) {
   *   if (msg.type === "text") console.log(msg.data);
   * }
   * console.log(await socket.closed);
   * ```
   */
  [Symbol.asyncIterator]() {
    if (this.#reading) {
      throw new TypeError(
        "Cannot iterate socket: another loop is already reading it",
      );
    }
    this.#reading = true;
    return new SocketIterator(this);
  }
  #next() {
    const queue = this.#queue;
    if (queue !== void 0) {
      const value = queue[this.#head];
      if (++this.#head === queue.length) {
        this.#queue = void 0;
        this.#head = 0;
      } else queue[this.#head - 1] = void 0;
      return Promise.resolve({
        value,
        done: false,
      });
    }
    if (this.#info) {
      this.#reading = false;
      return Promise.resolve(DONE);
    }
    const promise = new Promise(capture);
    if (this.#waiter === void 0) this.#waiter = take();
    else (this.#waiters ??= []).push(take());
    return promise;
  }
  #dispatch(event) {
    switch (event.type) {
      case "message":
        return this.#onMessage(event.data);
      case "close": {
        const { code, reason, wasClean } = event;
        return this.#onClose(code, reason, wasClean);
      }
      case "error":
        this.#error = event.message ?? "";
        return;
      case "open":
        if (this.#state === CONNECTING) {
          this.#state = OPEN;
          this.#flush();
          if (this.#pending !== void 0) this.#schedulePoll();
        } else if (this.#state === CLOSING) this.#closeNow();
        return;
      case "abort":
        return this.#shutdown(1001, "Going away");
    }
  }
  #onMessage(data) {
    if (!this.#accepting) return;
    let msg;
    if (typeof data === "string") {
      if (
        data.length > this.#maxChars && utf8Length(data) > this.#maxMessageSize
      ) {
        return this.#tooBig(utf8Length(data));
      }
      msg = {
        type: "text",
        data,
      };
    } else if (data instanceof ArrayBuffer) {
      if (data.byteLength > this.#maxMessageSize) {
        return this.#tooBig(data.byteLength);
      }
      msg = {
        type: "binary",
        data: new Uint8Array(data),
      };
    } else return;
    if (++this.#in > this.#inLimit) {
      this.#accepting = false;
      return this.#shutdown(1008, "Message rate limit exceeded");
    }
    const waiter = this.#waiter;
    if (waiter !== void 0) {
      this.#waiter = this.#waiters?.shift();
      waiter({
        value: msg,
        done: false,
      });
    } else if (this.#queue === void 0) {
      this.#queue = [
        msg,
      ];
    } else if (this.#queue.length - this.#head < this.#maxQueued) {
      this.#queue.push(msg);
    } else {
      this.#accepting = false;
      this.#shutdown(
        1013,
        `More than ${this.#maxQueued} messages waiting for the loop`,
      );
    }
  }
  #tooBig(size) {
    this.#accepting = false;
    this.#shutdown(
      1009,
      `Message of ${size} bytes exceeds the limit of ${this.#maxMessageSize}`,
    );
  }
  #onClose(code, reason, wasClean) {
    if (this.#info) return;
    if (code === 0 || code === 1006) {
      if (this.#frameSent && this.#closing) {
        this.#finish(this.#closing.code, this.#closing.reason, false);
      } else this.#finish(1006, reason || this.#error, false);
    } else if (
      reason.length > MAX_CLOSE_REASON_BYTES / 3 &&
      utf8Length(reason) > MAX_CLOSE_REASON_BYTES
    ) {
      this.#finish(1002, "Close frame over 125 bytes", false);
    } else this.#finish(code, reason, wasClean);
  }
  #finish(code, reason, wasClean) {
    const info = {
      code,
      reason,
      wasClean,
    };
    this.#info = info;
    this.#state = CLOSED;
    this.#accepting = false;
    clearTimeout(this.#pollTimer);
    clearTimeout(this.#softTimer);
    this.#signal?.removeEventListener("abort", this.#listener);
    this.#signal = void 0;
    const pending = this.#pending ?? [];
    this.#pending = void 0;
    for (const send of pending) {
      send.reject(new SocketClosedError(code, reason));
    }
    if (this.#waiter !== void 0) {
      const waiters = [
        this.#waiter,
        ...this.#waiters ?? [],
      ];
      this.#waiter = this.#waiters = void 0;
      this.#reading = false;
      for (const waiter of waiters) waiter(DONE);
    }
    this.#settle?.(info);
    this.#settle = void 0;
    const onFinish = this.#onFinish;
    this.#onFinish = void 0;
    onFinish?.(info);
  }
  /**
   * Starts the close. A soft close (leaving the loop, `await using`) waits
   * one task before the frame goes out, so that a handler's throw that left
   * the loop can still turn it into 1011; any other close overrides it.
   */
  #shutdown(code, reason, soft = false) {
    if (this.#state >= CLOSING) {
      if (!this.#soft || soft || this.#frameSent || this.#state === CLOSED) {
        return;
      }
      this.#soft = false;
      this.#closing = {
        code,
        reason,
        wasClean: false,
      };
      if (this.#softTimer !== void 0) {
        clearTimeout(this.#softTimer);
        this.#softTimer = void 0;
        this.#closeNow();
      }
      return;
    }
    const wasOpen = this.#state === OPEN;
    this.#state = CLOSING;
    this.#soft = soft;
    this.#closing = {
      code,
      reason,
      wasClean: false,
    };
    if (!wasOpen) return;
    if (soft) {
      this.#softTimer = setTimeout(() => {
        this.#softTimer = void 0;
        this.#closeNow();
      }, 0);
    } else this.#closeNow();
  }
  #closeNow() {
    const pending = this.#pending ?? [];
    this.#pending = void 0;
    clearTimeout(this.#pollTimer);
    for (const send of pending) {
      try {
        this.#ws.send(send.data);
        this.#out++;
        send.resolve();
      } catch (error) {
        send.reject(error instanceof Error ? error : new Error(String(error)));
      }
    }
    const { code, reason } = this.#closing;
    this.#frameSent = true;
    try {
      this.#ws.close(code, reason);
    } catch {
      try {
        this.#ws.close(1e3, reason);
      } catch {
      }
    }
  }
  #sendLater(data, size) {
    if (this.#state >= CLOSING) {
      const info = this.#info ?? this.#closing;
      return Promise.reject(
        new SocketClosedError(
          info?.code ?? 1006,
          info?.reason ?? "",
          void 0,
          this.#info === void 0,
        ),
      );
    }
    if (this.#pending === void 0) this.#stalledSince = Date.now();
    return new Promise((resolve, reject) => {
      (this.#pending ??= []).push({
        data,
        size,
        resolve,
        reject,
      });
      if (this.#state === OPEN && this.#pollTimer === void 0) {
        this.#schedulePoll();
      }
    });
  }
  #schedulePoll() {
    this.#pollTimer = setTimeout(() => {
      this.#pollTimer = void 0;
      const waiting = this.#pending?.length ?? 0;
      this.#flush();
      if (this.#pending === void 0) {
        this.#pollDelay = 1;
        return;
      }
      if (this.#pending.length < waiting) {
        this.#stalledSince = Date.now();
        this.#pollDelay = 1;
      } else if (
        this.#sendTimeout > 0 &&
        Date.now() - this.#stalledSince >= this.#sendTimeout
      ) {
        const reason =
          `Send timeout: the peer read nothing for ${this.#sendTimeout} ms`;
        const pending = this.#pending;
        this.#pending = void 0;
        for (const send of pending) {
          send.reject(new SocketClosedError(1008, reason));
        }
        return this.#shutdown(1008, reason);
      } else {
        this.#pollDelay = Math.min(this.#pollDelay * 2, MAX_POLL_MS);
      }
      this.#schedulePoll();
    }, this.#pollDelay);
  }
  #flush() {
    const pending = this.#pending;
    if (this.#state !== OPEN || pending === void 0) return;
    this.#buffered = this.#ws.bufferedAmount;
    let i = 0;
    while (i < pending.length && this.#buffered < this.#highWaterMark) {
      const send = pending[i++];
      this.#ws.send(send.data);
      this.#buffered += send.size;
      this.#out++;
      send.resolve();
    }
    if (i === pending.length) this.#pending = void 0;
    else pending.splice(0, i);
  }
};
var Listener = class {
  #socket;
  constructor(socket) {
    this.#socket = socket;
  }
  handleEvent(event) {
    dispatch(this.#socket, event);
  }
};
var SocketIterator = class {
  #socket;
  constructor(socket) {
    this.#socket = socket;
  }
  next() {
    return next(this.#socket);
  }
  return() {
    return leave(this.#socket);
  }
};

// src/_event_stream.ts
var SESSION_PARAM = "session";
var PROTOCOLS_PARAM = "protocols";
var CONNECTING2 = 0;
var OPEN2 = 1;
var CLOSING2 = 2;
var CLOSED2 = 3;
function toBase64(data) {
  const bytes = data instanceof Uint8Array
    ? data
    : data instanceof ArrayBuffer
    ? new Uint8Array(data)
    : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const native = bytes.toBase64;
  if (typeof native === "function") return native.call(bytes);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 32768) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 32768));
  }
  return btoa(binary);
}
function fromBase64(text) {
  const native = Uint8Array.fromBase64;
  if (typeof native === "function") {
    try {
      return native(text);
    } catch {
      throw new SyntaxError("Invalid base64 data");
    }
  }
  let binary;
  try {
    binary = atob(text);
  } catch {
    throw new SyntaxError("Invalid base64 data");
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
var EventStreamParser = class {
  #buffer = "";
  #event = "";
  #data = [];
  #onEvent;
  /**
   * @param onEvent Called for each event, with its name (`message` when
   * none was given) and data.
   */
  constructor(onEvent) {
    this.#onEvent = onEvent;
  }
  /**
   * Feeds the next chunk of decoded text.
   *
   * @param chunk The text.
   */
  push(chunk) {
    let text = this.#buffer + chunk;
    let start = 0;
    for (;;) {
      const lf = text.indexOf("\n", start);
      const cr = text.indexOf("\r", start);
      let end;
      if (lf === -1 && cr === -1) break;
      if (cr === -1 || lf !== -1 && lf < cr) end = lf;
      else {
        if (cr === text.length - 1) break;
        end = cr;
      }
      this.#line(text.slice(start, end));
      start = end + 1;
      if (text[end] === "\r" && text[start] === "\n") start++;
    }
    text = text.slice(start);
    this.#buffer = text;
  }
  #line(line) {
    if (line === "") {
      if (this.#data.length > 0) {
        this.#onEvent(this.#event || "message", this.#data.join("\n"));
      }
      this.#event = "";
      this.#data = [];
      return;
    }
    if (line[0] === ":") return;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value[0] === " ") value = value.slice(1);
    if (field === "event") this.#event = value;
    else if (field === "data") this.#data.push(value);
  }
};

// src/_sse_client.ts
var BATCH_BYTES = 64 * 1024;
var POST_ATTEMPTS = 6;
var CLOSE_TIMEOUT = 5e3;
function httpUrl(url) {
  const http = new URL(url);
  if (http.protocol === "ws:") http.protocol = "http:";
  else if (http.protocol === "wss:") http.protocol = "https:";
  return http;
}
var EventStreamSocket = class extends EventTarget {
  binaryType = "arraybuffer";
  protocol = "";
  readyState = CONNECTING2;
  /** Bytes sent and not yet acknowledged by the server. */
  bufferedAmount = 0;
  url;
  #fetch;
  #base;
  #abort = new AbortController();
  #session = "";
  #seq = 0;
  /** Entries as JSON text, with their UTF-8 size on the wire. */
  #outgoing = [];
  #posting = false;
  #closeTimer;
  #closeInfo;
  /**
   * Opens the stream.
   *
   * @param url The `ws(s)://` or `http(s)://` URL of the route.
   * @param protocols Subprotocols to offer.
   * @param fetchFn The `fetch` to use.
   */
  constructor(url, protocols, fetchFn) {
    super();
    this.url = url;
    this.#fetch = fetchFn;
    this.#base = httpUrl(url);
    const streamUrl = new URL(this.#base);
    if (protocols.length > 0) {
      streamUrl.searchParams.set(PROTOCOLS_PARAM, protocols.join(","));
    }
    this.#read(streamUrl).catch((error) => {
      this.#end(1006, messageOf(error), false);
    });
  }
  /**
   * Queues a message for the next POST.
   *
   * @param data Text, or bytes (sent as base64).
   */
  send(data) {
    if (this.readyState !== OPEN2) {
      throw new DOMException("The connection is not open", "InvalidStateError");
    }
    this.#queue(
      typeof data === "string"
        ? [
          "t",
          data,
        ]
        : [
          "b",
          toBase64(data),
        ],
    );
  }
  /**
   * Sends the close after what is queued and waits for the server's close
   * event (at most 5 s; then the connection ends with 1006).
   *
   * @param code The close code.
   * @param reason The reason.
   */
  close(code = 1e3, reason = "") {
    if (this.readyState >= CLOSING2) return;
    if (this.readyState === CONNECTING2) {
      this.#end(1006, reason || "Closed before the event stream opened", false);
      return;
    }
    this.#queue([
      "c",
      code,
      reason,
    ]);
    this.readyState = CLOSING2;
    this.#closeTimer = setTimeout(
      () => this.#end(1006, "The server did not answer the close", false),
      CLOSE_TIMEOUT,
    );
  }
  async #read(url) {
    const response = await this.#fetch(url, {
      headers: {
        accept: "text/event-stream",
      },
      cache: "no-store",
      signal: this.#abort.signal,
    });
    if (!response.ok || response.body === null) {
      const text = (await response.text().catch(() => "")).trim();
      throw new Error(
        `The event stream was refused: ${response.status}${
          text ? ` ${text}` : ""
        }`,
      );
    }
    const parser = new EventStreamParser((event, data) =>
      this.#event(event, data)
    );
    const reader = response.body.pipeThrough(new TextDecoderStream())
      .getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parser.push(value);
      if (this.readyState === CLOSED2) {
        reader.cancel().catch(() => {
        });
        return;
      }
    }
    const close = this.#closeInfo;
    if (close) this.#end(close.code, close.reason, true);
    else this.#end(1006, "The event stream ended without a close", false);
  }
  #event(event, data) {
    if (this.readyState === CLOSED2) return;
    switch (event) {
      case "open": {
        if (this.readyState !== CONNECTING2) return;
        const open = JSON.parse(data);
        this.#session = open.session;
        this.protocol = open.protocol;
        this.readyState = OPEN2;
        this.dispatchEvent(new Event("open"));
        return;
      }
      case "text":
        return this.#message(JSON.parse(data));
      case "binary":
        return this.#message(fromBase64(data).buffer);
      case "close": {
        const { code, reason } = JSON.parse(data);
        this.#closeInfo = {
          code,
          reason,
        };
        if (this.readyState === OPEN2) this.readyState = CLOSING2;
        return;
      }
    }
  }
  #message(data) {
    if (this.readyState !== OPEN2 && this.readyState !== CLOSING2) return;
    this.dispatchEvent(
      new MessageEvent("message", {
        data,
      }),
    );
  }
  #queue(entry) {
    const json = JSON.stringify(entry);
    const size = utf8Length(json);
    this.#outgoing.push({
      json,
      size,
    });
    this.bufferedAmount += size;
    if (!this.#posting) {
      this.#posting = true;
      queueMicrotask(() => this.#post());
    }
  }
  async #post() {
    while (this.#outgoing.length > 0 && this.readyState !== CLOSED2) {
      let bytes = 0;
      let count2 = 0;
      for (const item of this.#outgoing) {
        if (count2 > 0 && bytes + item.size > BATCH_BYTES) break;
        bytes += item.size;
        count2++;
      }
      const batch = this.#outgoing.splice(0, count2);
      const body = `{"seq":${this.#seq++},"messages":[${
        batch.map((item) => item.json).join(",")
      }]}`;
      const url = new URL(this.#base);
      url.searchParams.set(SESSION_PARAM, this.#session);
      const status = await this.#deliver(url, body);
      if (this.readyState === CLOSED2) break;
      if (status !== 204) {
        this.#outgoing = [];
        clearTimeout(this.#closeTimer);
        this.#closeTimer = setTimeout(
          () => this.#end(1006, `A POST was refused: ${status}`, false),
          1e3,
        );
        break;
      }
      this.bufferedAmount = Math.max(0, this.bufferedAmount - bytes);
    }
    this.#posting = false;
  }
  /** Sends one POST, retrying the same body when the answer is lost. */
  async #deliver(url, body) {
    let error;
    for (let attempt = 0; attempt < POST_ATTEMPTS; attempt++) {
      if (attempt > 0) await delay(50 * 2 ** attempt);
      if (this.readyState === CLOSED2) return 0;
      try {
        const response = await this.#fetch(url, {
          method: "POST",
          headers: {
            "content-type": "text/plain;charset=UTF-8",
          },
          body,
          signal: this.#abort.signal,
        });
        await response.body?.cancel();
        if (response.status < 500) return response.status;
        error = new Error(`HTTP ${response.status}`);
      } catch (caught) {
        error = caught;
      }
    }
    this.#end(1006, `Could not deliver messages: ${messageOf(error)}`, false);
    return 0;
  }
  #end(code, reason, wasClean) {
    if (this.readyState === CLOSED2) return;
    const opened = this.readyState !== CONNECTING2;
    this.readyState = CLOSED2;
    clearTimeout(this.#closeTimer);
    this.#abort.abort();
    this.#outgoing = [];
    this.bufferedAmount = 0;
    if (!opened || !wasClean) {
      this.dispatchEvent(Object.assign(new Event("error"), {
        message: reason,
      }));
    }
    this.dispatchEvent(
      new CloseEvent("close", {
        code,
        reason,
        wasClean,
      }),
    );
  }
};
function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
function messageOf(error) {
  return error instanceof Error ? error.message : String(error);
}

// src/client.ts
var OutboxFullError = class extends Error {
  /** The option whose limit was reached. */
  limit;
  /** That option's value. */
  max;
  /**
   * Makes the error.
   *
   * @param limit The option whose limit was reached.
   * @param max That option's value.
   * @param options Standard error options, such as `cause`.
   */
  constructor(limit, max, options) {
    super(
      `Cannot queue message: the outbox is full (${limit} is ${max}${
        limit === "maxQueued" ? " messages" : " bytes"
      }) while the client is not connected`,
      options,
    );
    this.name = "OutboxFullError";
    this.limit = limit;
    this.max = max;
  }
};
var ClientEvent = class extends Event {
  /** The client's state when the event fired. */
  state;
  /** The retry number (1 for the first retry); `0` when not retrying. */
  attempt;
  /** Milliseconds before the retry; `0` when not retrying. */
  delay;
  /** Why the last connection ended (`"reconnecting"`, `"close"`). */
  closeInfo;
  /**
   * Makes the event.
   *
   * @param type The event type.
   * @param init The state, retry and close details.
   */
  constructor(type, init) {
    super(type);
    this.state = init.state;
    this.attempt = init.attempt ?? 0;
    this.delay = init.delay ?? 0;
    this.closeInfo = init.closeInfo;
  }
};
var MAX_TIMER_MS = 2 ** 31 - 1;
var DONE2 = Object.freeze({
  value: void 0,
  done: true,
});
function nonNegative2(name, value, min = 0) {
  if (typeof value !== "number") {
    throw new TypeError(
      `Invalid ${name}: expected a number, got ${typeof value}`,
    );
  }
  if (!Number.isFinite(value) || value < min) {
    throw new RangeError(
      `Invalid ${name}: expected a finite number of at least ${min}, got ${value}`,
    );
  }
  return value;
}
function count(name, value, infinite = false) {
  if (typeof value !== "number") {
    throw new TypeError(
      `Invalid ${name}: expected a number, got ${typeof value}`,
    );
  }
  if (
    !(infinite && value === Infinity) &&
    (!Number.isSafeInteger(value) || value < 0)
  ) {
    throw new RangeError(
      `Invalid ${name}: expected a whole number of at least 0${
        infinite ? " or Infinity" : ""
      }, got ${value}`,
    );
  }
  return value;
}
function finalCodeTest(value) {
  if (typeof value === "function") return value;
  if (Array.isArray(value)) {
    for (const code of value) {
      if (typeof code !== "number" || !Number.isInteger(code)) {
        throw new TypeError(
          `Invalid finalCodes: expected whole numbers, got ${String(code)}`,
        );
      }
    }
    const codes = new Set(value);
    return (code) => codes.has(code);
  }
  throw new TypeError(
    "Invalid finalCodes: expected an array of close codes or a function",
  );
}
function isDefaultFinal(code) {
  return code >= 4e3 && code <= 4999;
}
function protocolList(value) {
  const list = typeof value === "string"
    ? [
      value,
    ]
    : value;
  if (!Array.isArray(list) || !list.every((p) => typeof p === "string")) {
    throw new TypeError(
      "Invalid protocols: expected a string or an array of strings",
    );
  }
  return [
    ...list,
  ];
}
var Client = class extends EventTarget {
  #url;
  #protocols;
  #initialDelay;
  #maxDelay;
  #factor;
  #maxRetries;
  #minUptime;
  #openedAt = 0;
  #isFinal;
  #maxQueued;
  #maxQueuedBytes;
  #highWaterMark;
  #maxMessageSize;
  #signal;
  #onAbort = () => this.#shutdown(1e3, "Aborted");
  #transports;
  /** The transport the current or next connection uses. */
  #transportIndex = 0;
  #openTimeout;
  #openTimer;
  /** What the current Socket wraps: a WebSocket or the fallback's stream. */
  #raw;
  #fetch;
  #state = "connecting";
  #socket;
  #inflight = [];
  #outbox = [];
  #outboxBytes = 0;
  #retries = 0;
  #timer;
  #closing;
  #queue = [];
  #head = 0;
  #waiters = [];
  #reading = false;
  #info;
  #closed;
  #settle;
  /**
   * Checks the options and opens the first connection. Prefer
   * {@linkcode connect}.
   *
   * @param url The `ws:` or `wss:` URL.
   * @param options Backoff, outbox and socket options, an abort signal.
   * @throws {TypeError} When an option has the wrong type.
   * @throws {RangeError} When an option is out of range.
   * @throws {SyntaxError} When the runtime's `WebSocket` rejects the URL.
   *
   * @example Constructing directly
   * ```ts ignore
   * import { Client } from "@switchboard/switchboard/client";
   *
   * const client = new Client("ws://127.0.0.1:8000/ws", { maxRetries: 3 });
   * ```
   */
  constructor(url, options = {}) {
    super();
    const {
      protocols = [],
      initialDelay = 500,
      maxDelay = 3e4,
      factor = 2,
      maxRetries = Infinity,
      minUptime = 5e3,
      finalCodes = isDefaultFinal,
      maxQueued = 1e3,
      maxQueuedBytes = 1024 * 1024,
      highWaterMark = 1024 * 1024,
      maxMessageSize = 16 * 1024 * 1024,
      signal,
      transports = [
        "websocket",
      ],
      openTimeout = 1500,
      fetch: fetchFn,
    } = options;
    if (typeof url !== "string" && !(url instanceof URL)) {
      throw new TypeError("Invalid url: expected a string or a URL");
    }
    this.#url = String(url);
    this.#protocols = protocolList(protocols);
    this.#initialDelay = nonNegative2("initialDelay", initialDelay);
    this.#maxDelay = nonNegative2("maxDelay", maxDelay);
    if (this.#maxDelay > MAX_TIMER_MS) {
      throw new RangeError(
        `Invalid maxDelay: ${maxDelay} is more than timers allow (${MAX_TIMER_MS} ms)`,
      );
    }
    if (this.#maxDelay < this.#initialDelay) {
      throw new RangeError(
        `Invalid maxDelay: ${maxDelay} is less than initialDelay (${initialDelay})`,
      );
    }
    this.#factor = nonNegative2("factor", factor, 1);
    this.#maxRetries = count("maxRetries", maxRetries, true);
    this.#minUptime = nonNegative2("minUptime", minUptime);
    this.#isFinal = finalCodeTest(finalCodes);
    this.#maxQueued = count("maxQueued", maxQueued);
    this.#maxQueuedBytes = count("maxQueuedBytes", maxQueuedBytes);
    this.#highWaterMark = positiveInteger("highWaterMark", highWaterMark);
    this.#maxMessageSize = positiveInteger("maxMessageSize", maxMessageSize);
    optionalSignal(signal);
    this.#transports = checkTransports(transports);
    this.#openTimeout = nonNegative2("openTimeout", openTimeout);
    if (fetchFn !== void 0 && typeof fetchFn !== "function") {
      throw new TypeError("Invalid fetch: expected a function");
    }
    this.#fetch = fetchFn ?? ((input, init) => fetch(input, init));
    if (signal?.aborted) {
      this.#closing = {
        code: 1e3,
        reason: "Aborted",
      };
      this.#finish({
        code: 1e3,
        reason: "Aborted",
        wasClean: false,
      }, []);
      return;
    }
    this.#open(true);
    if (signal) {
      this.#signal = signal;
      signal.addEventListener("abort", this.#onAbort, {
        once: true,
      });
    }
  }
  /** The URL the client connects to. */
  get url() {
    return this.#url;
  }
  /** The client's state; a `"statechange"` event fires when it changes. */
  get state() {
    return this.#state;
  }
  /**
   * The transport of the connection that is open, or being tried:
   * `"websocket"`, or `"sse"` after a fallback.
   *
   * @example Showing the transport once open
   * ```ts ignore
   * const client = connect(url, { transports: ["websocket", "sse"] });
   * client.addEventListener("open", () => console.log(client.transport));
   * ```
   */
  get transport() {
    return this.#transports[this.#transportIndex];
  }
  /** How many messages wait in the outbox for a connection. */
  get queued() {
    return this.#outbox.length;
  }
  /**
   * Settles once, when the client is closed for good, with the final
   * connection's code, reason and whether it closed cleanly. When no
   * connection was open at the end (closed or aborted while waiting to
   * retry), it is the code and reason given to `close()` (1000 "Aborted" for
   * the signal) with `wasClean: false`. Never rejects.
   */
  get closed() {
    if (this.#closed === void 0) {
      this.#closed = this.#info
        ? Promise.resolve(this.#info)
        : new Promise((resolve) => this.#settle = resolve);
    }
    return this.#closed;
  }
  /**
   * Sends a text (string) or binary (Uint8Array, ArrayBuffer) message.
   *
   * While the client is open this is {@linkcode Socket.send}: it resolves
   * once the message is handed to the connection, waiting while the send
   * buffer is full. Otherwise the message (bytes are copied) waits in the
   * outbox and the promise resolves when a connection takes it. If the
   * client closes for good first, the promise rejects with a
   * {@linkcode SocketClosedError}; an unawaited send rejected that way does
   * not raise an unhandled rejection.
   *
   * @param data The message: a string is sent as text, bytes as binary.
   * @returns A promise that resolves once a connection has the message.
   * @throws {OutboxFullError} (as a rejection) when the client is not open
   * and the outbox already holds `maxQueued` messages or would exceed
   * `maxQueuedBytes`.
   * @throws {SocketClosedError} (as a rejection) when the client is closed.
   * @throws {TypeError} (as a rejection) when `data` is of another type.
   *
   * @example Sending while the server is away
   * ```ts ignore
   * client.send("saved for later").catch((error) => console.warn(error));
   * ```
   */
  send(data) {
    let size;
    if (typeof data === "string") size = utf8Length(data);
    else if (data instanceof Uint8Array || data instanceof ArrayBuffer) {
      size = data.byteLength;
    } else {
      return Promise.reject(
        new TypeError(
          "Cannot send message: expected a string, Uint8Array or ArrayBuffer",
        ),
      );
    }
    if (this.#state === "closed" || this.#closing) {
      const info = this.#info ?? {
        ...this.#closing,
        wasClean: false,
      };
      return Promise.reject(
        new SocketClosedError(
          info.code,
          info.reason,
          void 0,
          this.#info === void 0,
        ),
      );
    }
    const socket = this.#socket;
    if (this.#state === "open" && socket) {
      return new Promise((resolve, reject) =>
        this.#hand(socket, {
          data,
          size,
          handed: false,
          resolve,
          reject,
        })
      );
    }
    if (this.#outbox.length >= this.#maxQueued) {
      return Promise.reject(new OutboxFullError("maxQueued", this.#maxQueued));
    }
    if (this.#outboxBytes + size > this.#maxQueuedBytes) {
      return Promise.reject(
        new OutboxFullError("maxQueuedBytes", this.#maxQueuedBytes),
      );
    }
    const copy = typeof data === "string"
      ? data
      : data instanceof Uint8Array
      ? data.slice()
      : data.slice(0);
    const promise = new Promise((resolve, reject) => {
      this.#outbox.push({
        data: copy,
        size,
        handed: false,
        resolve,
        reject,
      });
    });
    this.#outboxBytes += size;
    promise.catch(() => {
    });
    return promise;
  }
  /**
   * Closes the client for good: no more reconnects. Closes the connection
   * if one is open (messages waiting for its send buffer are written first),
   * cancels a pending retry, and rejects what is still in the outbox. The
   * loop ends and {@linkcode Client.closed} settles. Calling it again does
   * nothing.
   *
   * @param code The close code: 1000 or 3000-4999.
   * @param reason Up to 123 UTF-8 bytes.
   * @throws {RangeError} When the code or the reason is out of range.
   * @throws {TypeError} When the code is not a number or the reason not a
   * string.
   *
   * @example Closing when the page is done
   * ```ts ignore
   * client.close(1000, "bye");
   * console.log(await client.closed);
   * ```
   */
  close(code = 1e3, reason = "") {
    validateClose(code, reason);
    this.#shutdown(code, reason);
  }
  /**
   * Closes with 1000 and waits until the client is closed.
   *
   * @returns A promise that resolves once the client is closed.
   *
   * @example Scoped cleanup
   * ```ts ignore
   * {
   *   await using client = connect("ws://127.0.0.1:8000/ws");
   *   await client.send("bye");
   * } // closed here
   * ```
   */
  async [Symbol.asyncDispose]() {
    this.#shutdown(1e3, "");
    await this.closed;
  }
  /**
   * Iterates the messages of every connection in arrival order. The loop
   * ends when the client is closed for good; leaving it early (`break`,
   * `return`, a throw) closes the client with 1000. One loop at a time.
   *
   * @returns The iterator.
   * @throws {TypeError} When another loop is already reading this client.
   *
   * @example Reading until the client gives up
   * ```ts ignore
   * for await (const msg of client) console.log(msg.data);
   * console.log(await client.closed);
   * ```
   */
  [Symbol.asyncIterator]() {
    if (this.#reading) {
      throw new TypeError(
        "Cannot iterate client: another loop is already reading it",
      );
    }
    this.#reading = true;
    return {
      next: () => this.#next(),
      return: () => {
        this.#reading = false;
        this.#shutdown(1e3, "");
        return Promise.resolve(DONE2);
      },
    };
  }
  #next() {
    if (this.#head < this.#queue.length) {
      const value = this.#queue[this.#head];
      this.#queue[this.#head++] = void 0;
      if (this.#head === this.#queue.length) {
        this.#queue.length = 0;
        this.#head = 0;
      }
      return Promise.resolve({
        value,
        done: false,
      });
    }
    if (this.#info) {
      this.#reading = false;
      return Promise.resolve(DONE2);
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
  #push(msg) {
    const waiter = this.#waiters.shift();
    if (waiter) {
      waiter({
        value: msg,
        done: false,
      });
    } else this.#queue.push(msg);
  }
  #open(first) {
    let socket;
    try {
      let transport = this.transport;
      if (
        transport === "websocket" && typeof WebSocket === "undefined" &&
        this.#transportIndex < this.#transports.length - 1
      ) {
        transport = this.#transports[++this.#transportIndex];
      }
      const ws = transport === "websocket"
        ? new WebSocket(this.#url, this.#protocols)
        : new EventStreamSocket(this.#url, this.#protocols, this.#fetch);
      socket = new Socket(ws, {
        highWaterMark: this.#highWaterMark,
        maxMessageSize: this.#maxMessageSize,
        // No send timeout: the Socket would close itself with 1008, which
        // reads as the server's "don't come back" and browsers refuse.
        sendTimeout: 0,
      });
      ws.addEventListener("open", () => this.#onOpen(socket), {
        once: true,
      });
      this.#raw = ws;
      const next2 = transport === "websocket" &&
        this.#transportIndex < this.#transports.length - 1;
      if (next2 || transport === "sse") {
        this.#openTimer = setTimeout(() => {
          if (this.#socket !== socket || socket.readyState !== 0) return;
          const reason = `No open within ${this.#openTimeout} ms`;
          if (next2) {
            this.#socket = void 0;
            abandon(ws, reason);
            this.#fallBack();
          } else abandon(ws, reason);
        }, this.#openTimeout);
      }
    } catch (error) {
      if (first) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      return this.#finish({
        code: 1006,
        reason,
        wasClean: false,
      }, []);
    }
    this.#socket = socket;
    this.#pump(socket);
  }
  async #pump(socket) {
    for await (const msg of socket) this.#push(msg);
    this.#onDrop(socket, await socket.closed);
  }
  #onOpen(socket) {
    if (this.#socket !== socket || this.#closing || socket.readyState !== 1) {
      return;
    }
    clearTimeout(this.#openTimer);
    this.#openedAt = Date.now();
    const outbox = this.#outbox;
    this.#outbox = [];
    this.#outboxBytes = 0;
    for (const entry of outbox) this.#hand(socket, entry);
    this.#setState("open");
    this.dispatchEvent(
      new ClientEvent("open", {
        state: "open",
      }),
    );
  }
  #hand(socket, entry) {
    this.#inflight.push(entry);
    socket.send(entry.data).then(() => {
      entry.handed = true;
      while (this.#inflight[0]?.handed) this.#inflight.shift();
      entry.resolve();
    }, () => {
    });
  }
  /** Opens the next transport after the current one failed to open. */
  #fallBack() {
    clearTimeout(this.#openTimer);
    const unsent = this.#inflight.filter((entry) => !entry.handed);
    this.#inflight = [];
    for (const entry of unsent) this.#outboxBytes += entry.size;
    this.#outbox = unsent.concat(this.#outbox);
    this.#transportIndex++;
    this.#open(false);
  }
  #onDrop(socket, info) {
    if (this.#socket !== socket) return;
    this.#socket = void 0;
    const opened = this.#state === "open";
    if (
      !opened && !this.#closing && this.transport === "websocket" &&
      this.#transportIndex < this.#transports.length - 1
    ) {
      return this.#fallBack();
    }
    clearTimeout(this.#openTimer);
    if (!opened) this.#transportIndex = 0;
    if (opened && Date.now() - this.#openedAt >= this.#minUptime) {
      this.#retries = 0;
    }
    const unsent = this.#inflight.filter((entry) => !entry.handed);
    this.#inflight = [];
    if (this.#closing) {
      return this.#finish(
        opened ? info : {
          ...this.#closing,
          wasClean: false,
        },
        unsent,
      );
    }
    if (
      info.code === 1008 || this.#isFinal(info.code) ||
      this.#retries >= this.#maxRetries
    ) {
      return this.#finish(info, unsent);
    }
    for (const entry of unsent) this.#outboxBytes += entry.size;
    this.#outbox = unsent.concat(this.#outbox);
    const attempt = ++this.#retries;
    const cap = this.#initialDelay === 0
      ? 0
      : Math.min(
        this.#maxDelay,
        this.#initialDelay * this.#factor ** (attempt - 1),
      );
    const delay2 = Math.round(Math.random() * cap);
    this.#timer = setTimeout(() => {
      this.#timer = void 0;
      this.#open(false);
    }, delay2);
    this.#setState("reconnecting");
    this.dispatchEvent(
      new ClientEvent("reconnecting", {
        state: "reconnecting",
        attempt,
        delay: delay2,
        closeInfo: info,
      }),
    );
  }
  #shutdown(code, reason) {
    if (this.#closing || this.#state === "closed") return;
    this.#closing = {
      code,
      reason,
    };
    clearTimeout(this.#openTimer);
    clearTimeout(this.#timer);
    this.#timer = void 0;
    if (this.#socket) {
      const connecting = this.#socket.readyState === 0;
      this.#socket.close(code, reason);
      if (connecting && this.#raw) abandon(this.#raw, reason);
    } else {this.#finish({
        code,
        reason,
        wasClean: false,
      }, []);}
  }
  #finish(info, unsent) {
    if (this.#info) return;
    this.#info = info;
    clearTimeout(this.#timer);
    this.#timer = void 0;
    this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#signal = void 0;
    const dropped = unsent.concat(this.#outbox);
    this.#outbox = [];
    this.#outboxBytes = 0;
    for (const entry of dropped) {
      entry.reject(new SocketClosedError(info.code, info.reason));
    }
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter(DONE2);
    if (waiters.length > 0) this.#reading = false;
    this.#settle?.(info);
    this.#settle = void 0;
    this.#setState("closed");
    this.dispatchEvent(
      new ClientEvent("close", {
        state: "closed",
        closeInfo: info,
      }),
    );
  }
  #setState(state) {
    if (this.#state === state) return;
    this.#state = state;
    this.dispatchEvent(
      new ClientEvent("statechange", {
        state,
      }),
    );
  }
};
function connect(url, options) {
  return new Client(url, options);
}
function abandon(ws, reason) {
  try {
    ws.close(1e3, reason);
  } catch {
  }
}
export {
  Client,
  ClientEvent,
  CloseCode,
  connect,
  OutboxFullError,
  SocketClosedError,
};
