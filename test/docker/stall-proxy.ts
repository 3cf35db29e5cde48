/**
 * A pass-through HTTP proxy in front of an S3 server that holds (never answers) the PUTs whose
 * path contains a marker: a dump writing through it writes its other objects and then waits on
 * that one, so a test can stop the process mid-dump at a known point. Requests are forwarded
 * unchanged, Host header included, so SigV4 signatures made for the proxy still verify upstream.
 * Binds 127.0.0.1; runs in the test process (a container on the host network reaches it).
 */
import { once } from "node:events";
import { createServer, request } from "node:http";
import type { IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { pipeline } from "node:stream/promises";

export interface StallProxy {
  /** e.g. http://127.0.0.1:41234 */
  readonly endpoint: string;
  /** Holds PUTs whose path contains `marker` from now on; `undefined` forwards everything again. */
  stallPutsMatching(marker: string | undefined): void;
  /** Paths of the PUTs being held right now. */
  held(): string[];
  /** Drops held requests and stops listening. */
  close(): Promise<void>;
}

export async function startStallProxy(upstreamEndpoint: string): Promise<StallProxy> {
  const upstream = new URL(upstreamEndpoint);
  let marker: string | undefined;
  const heldRequests = new Set<IncomingMessage>();
  const server = createServer((req, res) => {
    if (marker !== undefined && req.method === "PUT" && (req.url ?? "").includes(marker)) {
      heldRequests.add(req);
      // Not req's 'close': that fires once the body has been read. The answer's 'close' comes
      // when the client gives up on the connection.
      res.on("close", () => heldRequests.delete(req));
      req.resume(); // read and drop the body; never answer
      return;
    }
    const forward = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        pipeline(answer, res).catch(() => res.destroy());
      },
    );
    forward.on("error", () => res.destroy());
    pipeline(req, forward).catch(() => res.destroy());
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stallPutsMatching: (m) => {
      marker = m;
    },
    held: () => [...heldRequests].map((r) => r.url ?? ""),
    close: async () => {
      marker = undefined;
      for (const r of heldRequests) r.socket.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
