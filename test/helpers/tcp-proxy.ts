/**
 * A fault-injecting TCP proxy for tests: listens on a free loopback port and forwards every
 * connection to `target`, byte for byte, until told otherwise.
 *
 * - `stall()`: stop forwarding in both directions on every connection, open or new (nothing is
 *   read any more, so the peers' kernel buffers fill up and their writes block: what a dead
 *   NAT entry or a black-holed network looks like). `resume()` forwards again.
 * - `stallAfter(direction, bytes)`: forward normally, then stall as soon as `bytes` more bytes
 *   went in that direction; resolves when it stalled (so a test knows a COPY is midway).
 * - `cut()`: reset every open connection (TCP RST), like a router or server that went away.
 *
 * It never delays data on its own: no timers, no sleeps.
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from "node:net";

export type Direction = "toServer" | "toClient";

interface Pair {
  client: Socket;
  server: Socket;
}

export interface TcpProxy {
  readonly port: number;
  /** `url` with its host and port replaced by the proxy's. */
  urlFor(url: string): string;
  stall(): void;
  resume(): void;
  stallAfter(direction: Direction, bytes: number): Promise<void>;
  cut(): void;
  /** Connections accepted so far. */
  readonly accepted: number;
  close(): Promise<void>;
}

/** Starts a proxy in front of `target` (`host:port`). */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let stalled = false;
  let accepted = 0;
  let trigger: { direction: Direction; remaining: number; resolve: () => void } | undefined;

  const stallNow = () => {
    stalled = true;
    for (const p of pairs) {
      p.client.pause();
      p.server.pause();
    }
  };

  const forward = (from: Socket, to: Socket, direction: Direction) => {
    from.on("data", (chunk: Buffer) => {
      const data = chunk;
      if (trigger && trigger.direction === direction) {
        if (data.length >= trigger.remaining) {
          // Forward exactly up to the trigger point, keep the rest until resume().
          const head = data.subarray(0, trigger.remaining);
          const rest = data.subarray(trigger.remaining);
          if (head.length > 0) to.write(head);
          const t = trigger;
          trigger = undefined;
          stallNow();
          if (rest.length > 0) from.unshift(rest);
          t.resolve();
          return;
        }
        trigger.remaining -= data.length;
      }
      if (!to.write(data)) {
        from.pause();
        to.once("drain", () => {
          if (!stalled) from.resume();
        });
      }
    });
  };

  const server: Server = createServer((client) => {
    accepted++;
    const upstream = connect(target.port, target.host);
    const pair: Pair = { client, server: upstream };
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    forward(client, upstream, "toServer");
    forward(upstream, client, "toClient");
    if (stalled) {
      client.pause();
      upstream.pause();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    port,
    get accepted() {
      return accepted;
    },
    urlFor(url: string): string {
      const u = new URL(url);
      u.hostname = "127.0.0.1";
      u.port = String(port);
      return u.toString();
    },
    stall: stallNow,
    resume(): void {
      stalled = false;
      for (const p of pairs) {
        p.client.resume();
        p.server.resume();
      }
    },
    stallAfter(direction: Direction, bytes: number): Promise<void> {
      return new Promise((resolve) => {
        trigger = { direction, remaining: bytes, resolve };
      });
    },
    cut(): void {
      for (const p of pairs) {
        p.client.resetAndDestroy();
        p.server.resetAndDestroy();
      }
      pairs.clear();
    },
    close(): Promise<void> {
      for (const p of pairs) {
        p.client.destroy();
        p.server.destroy();
      }
      pairs.clear();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
