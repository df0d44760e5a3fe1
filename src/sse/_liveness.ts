/**
 * The liveness checks of one fallback stream on the server (see `wire.ts`),
 * run at each keepalive tick: whether the stream takes the bytes queued in
 * it, and whether the client answers the keepalives with POSTs. Internal.
 *
 * @module
 */

/** What a tick finds. */
export type Verdict = "keepalive" | "stalled" | "silent" | undefined;

/** The counters the checks keep between ticks. */
export class Liveness {
  /** Bytes ever queued on the stream. */
  written = 0;
  /** A POST arrived since the last tick. */
  posted = false;
  /** How many bytes the stream had taken at the last tick. */
  #takenAtTick = 0;
  #stalledTicks = 0;
  /** Keepalives sent since the last POST. */
  #unanswered = 0;

  /**
   * One keepalive tick.
   *
   * @param waiting Bytes queued on the stream and not yet taken.
   * @param receiving Whether a POST's body is being read (the client is
   * there).
   * @returns `"keepalive"`: write one, behind whatever waits, so that a
   * client reading through a backlog answers it once it gets there;
   * `"stalled"`: the stream took nothing for two ticks while bytes wait in
   * it; `"silent"`: the client answered neither of the last two keepalives;
   * `undefined`: nothing now (the stream took nothing for one tick).
   */
  tick(waiting: number, receiving: boolean): Verdict {
    const taken = this.written - waiting;
    if (waiting > 0 && taken === this.#takenAtTick) {
      return ++this.#stalledTicks >= 2 ? "stalled" : undefined;
    }
    this.#stalledTicks = 0;
    this.#takenAtTick = taken;
    if (this.posted || receiving) {
      this.posted = false;
      this.#unanswered = 0;
    } else if (this.#unanswered >= 2) return "silent";
    this.#unanswered++;
    return "keepalive";
  }
}
