/**
 * What a {@linkcode Hub} sends other hubs over its backplane channel as
 * envelopes: messages to one connection, and, when the backplane keeps no
 * streams, room messages, which each hub then adds to a stream store of its
 * own. Internal.
 *
 * @module
 */

import type { Backplane } from "../backplane/mod.ts";
import type { StreamBackplane } from "../backplane/streams.ts";
import { type Envelope, readEnvelope, writeEnvelope } from "./_envelope.ts";

/** One hub's traffic on its channel. */
export class Channel {
  readonly #backplane: Backplane;
  readonly #name: string;
  readonly #hub: string;
  /** The hub's own stream store, when the backplane keeps no streams. */
  readonly #local: StreamBackplane | undefined;
  readonly #deliver: (id: string, data: string | Uint8Array) => void;

  /**
   * @param backplane The hub's backplane.
   * @param name The channel.
   * @param hub The hub's id: its own envelopes are skipped.
   * @param local The hub's own stream store, for a backplane without streams.
   * @param deliver Hands a message to a connection of this hub, if it has it.
   */
  constructor(
    backplane: Backplane,
    name: string,
    hub: string,
    local: StreamBackplane | undefined,
    deliver: (id: string, data: string | Uint8Array) => void,
  ) {
    this.#backplane = backplane;
    this.#name = name;
    this.#hub = hub;
    this.#local = local;
    this.#deliver = deliver;
  }

  /**
   * Tells the other hubs about a room message, when their backplane keeps
   * no streams (it is in the room's stream otherwise).
   *
   * @param room The room.
   * @param data The message.
   * @param except The connection left out, if any.
   */
  room(room: string, data: string | Uint8Array, except?: string): void {
    if (this.#local === undefined) return;
    const envelope: Envelope = { n: this.#hub, r: room, d: "" };
    if (except !== undefined) envelope.x = except;
    this.#backplane.publish(this.#name, writeEnvelope(envelope, data));
  }

  /**
   * Sends a message to a connection of another hub.
   *
   * @param id The connection's id.
   * @param data The message.
   */
  direct(id: string, data: string | Uint8Array): void {
    this.#backplane.publish(
      this.#name,
      writeEnvelope({ n: this.#hub, c: id, d: "" }, data),
    );
  }

  /**
   * Takes an envelope another hub published.
   *
   * @param message The text received on the channel.
   */
  receive(message: string): void {
    const received = readEnvelope(message, this.#hub);
    if (received === undefined) return;
    const { envelope, data } = received;
    if (typeof envelope.r === "string") {
      this.#local?.append(
        this.#name,
        envelope.r,
        typeof envelope.x === "string"
          ? { data, except: envelope.x }
          : { data },
      );
    } else if (typeof envelope.c === "string") this.#deliver(envelope.c, data);
  }
}
