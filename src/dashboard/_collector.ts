/**
 * What the dashboard shows, collected as an {@linkcode Observer}: open
 * connections by transport, message totals and rates, close codes,
 * handshakes by status, resumes, the rooms of the hubs it watches, RPC
 * calls with their p99, and the backplanes' state. Internal.
 *
 * @module
 */

import type { CloseInfo, Transport } from "../message.ts";
import type {
  ConnectionEvent,
  ConnectionObserver,
  HandshakeEvent,
  ObservedBackplane,
  ObservedHub,
  Observer,
  RpcCallObserver,
  RpcServeObserver,
} from "../observe.ts";

/** One side's RPC calls (served or made), as the page shows them. */
export interface RpcSnapshot {
  total: number;
  errors: number;
  perSecond: number;
  /** Milliseconds, over the last {@linkcode P99_WINDOW} updates; `null` for none. */
  p99: number | null;
}

/** What the live socket sends the page at every update, as JSON. */
export interface DashboardSnapshot {
  /** Milliseconds since the epoch. */
  time: number;
  /** Open connections by transport. */
  connections: Record<Transport, number>;
  /** Message totals, and per second since the last update. */
  messages: {
    in: number;
    out: number;
    inPerSecond: number;
    outPerSecond: number;
  };
  /** Closed connections by close code. */
  closes: Record<string, number>;
  /** Handshakes answered, by HTTP status. */
  handshakes: Record<string, number>;
  /** Resumable sessions resumed. */
  resumed: number;
  /** Rooms of the hubs watched, with their members in this process. */
  rooms: Record<string, number>;
  rpc: { served: RpcSnapshot; made: RpcSnapshot };
  backplanes: {
    name: string;
    connected: boolean;
    buffered: number;
    dropped: number;
  }[];
}

/** Updates a p99 is taken over. */
const P99_WINDOW = 10;
/** Durations kept per update at most (a uniform sample beyond). */
const SAMPLES_PER_UPDATE = 2000;

/** The calls of one side (served or made): counts and recent durations. */
class Calls {
  total = 0;
  errors = 0;
  #last = 0;
  /** Durations (ms) of the calls that ended in each of the last updates. */
  #seconds: number[][] = [[]];
  /** Calls that ended in this update (kept or not). */
  #seen = 0;

  /** Starts timing a call; the function it returns ends it. */
  start(): (failed: boolean) => void {
    const started = performance.now();
    return (failed) => {
      this.total++;
      if (failed) this.errors++;
      const samples = this.#seconds[0]!;
      const ms = performance.now() - started;
      // Reservoir sampling keeps a uniform sample of this update's calls:
      // the n-th call replaces one of the kept with odds SAMPLES / n.
      const seen = ++this.#seen;
      if (samples.length < SAMPLES_PER_UPDATE) samples.push(ms);
      else {
        const slot = Math.floor(Math.random() * seen);
        if (slot < SAMPLES_PER_UPDATE) samples[slot] = ms;
      }
    };
  }

  /** The figures since the last snapshot; starts the next update's. */
  snapshot(seconds: number): RpcSnapshot {
    const all = this.#seconds.flat().sort((a, b) => a - b);
    const snapshot: RpcSnapshot = {
      total: this.total,
      errors: this.errors,
      perSecond: rate(this.total - this.#last, seconds),
      p99: all.length === 0 ? null : round(
        all[Math.min(all.length - 1, Math.ceil(all.length * 0.99) - 1)]!,
      ),
    };
    this.#last = this.total;
    this.#seconds.unshift([]);
    this.#seconds.length = Math.min(this.#seconds.length, P99_WINDOW);
    this.#seen = 0;
    return snapshot;
  }
}

/** Collects what the dashboard shows. */
export class Collector implements Observer {
  readonly #open: Record<Transport, number> = { websocket: 0, sse: 0 };
  #in = 0;
  #out = 0;
  readonly #closes: Record<string, number> = {};
  readonly #handshakes: Record<string, number> = {};
  #resumed = 0;
  readonly #hubs = new Set<ObservedHub>();
  readonly #backplanes = new Map<ObservedBackplane, string>();
  readonly #served = new Calls();
  readonly #made = new Calls();
  /** The totals and time of the last snapshot, for the rates. */
  #lastIn = 0;
  #lastOut = 0;
  #lastTime = performance.now();

  handshake(event: HandshakeEvent): void {
    const status = String(event.status);
    this.#handshakes[status] = (this.#handshakes[status] ?? 0) + 1;
  }

  connection(event: ConnectionEvent): ConnectionObserver {
    const transport = event.transport;
    this.#open[transport]++;
    return {
      message: (direction) => {
        if (direction === "in") this.#in++;
        else this.#out++;
      },
      resumed: () => void this.#resumed++,
      close: (info: CloseInfo) => {
        this.#open[transport]--;
        const code = String(info.code);
        this.#closes[code] = (this.#closes[code] ?? 0) + 1;
      },
    };
  }

  hub(hub: ObservedHub): () => void {
    this.#hubs.add(hub);
    return () => this.#hubs.delete(hub);
  }

  backplane(backplane: ObservedBackplane, name: string): () => void {
    this.#backplanes.set(backplane, name);
    return () => this.#backplanes.delete(backplane);
  }

  rpcCall(): RpcCallObserver {
    const end = this.#made.start();
    return { end: (error) => end(error !== undefined) };
  }

  rpcServe(): RpcServeObserver {
    const end = this.#served.start();
    return { end: (code) => end(code !== undefined) };
  }

  /**
   * What the page shows now; rates are over the time since the last
   * snapshot.
   *
   * @returns The snapshot.
   */
  snapshot(): DashboardSnapshot {
    const now = performance.now();
    const seconds = Math.max((now - this.#lastTime) / 1000, 0.001);
    const rooms: Record<string, number> = {};
    for (const hub of this.#hubs) {
      for (const [room, members] of Object.entries(hub.stats().rooms)) {
        rooms[room] = (rooms[room] ?? 0) + members;
      }
    }
    const snapshot: DashboardSnapshot = {
      time: Date.now(),
      connections: { ...this.#open },
      messages: {
        in: this.#in,
        out: this.#out,
        inPerSecond: rate(this.#in - this.#lastIn, seconds),
        outPerSecond: rate(this.#out - this.#lastOut, seconds),
      },
      closes: { ...this.#closes },
      handshakes: { ...this.#handshakes },
      resumed: this.#resumed,
      rooms,
      rpc: {
        served: this.#served.snapshot(seconds),
        made: this.#made.snapshot(seconds),
      },
      backplanes: [...this.#backplanes].map(([backplane, name]) => ({
        name,
        connected: backplane.connected,
        buffered: backplane.buffered,
        dropped: backplane.dropped,
      })),
    };
    this.#lastIn = this.#in;
    this.#lastOut = this.#out;
    this.#lastTime = now;
    return snapshot;
  }
}

function rate(count: number, seconds: number): number {
  return round(count / seconds);
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
