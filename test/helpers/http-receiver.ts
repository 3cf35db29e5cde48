/** A real HTTP server on 127.0.0.1 recording every request (webhook receiver). */
import { EventEmitter, once } from "node:events";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface HttpReceiver {
  url: string;
  requests: ReceivedRequest[];
  /** Status code answered to the n-th request (1-based); default 200. */
  statusFor: (n: number) => number;
  waitFor(n: number): Promise<ReceivedRequest>;
  close(): Promise<void>;
}

export async function startHttpReceiver(statusFor: (n: number) => number = () => 200): Promise<HttpReceiver> {
  const requests: ReceivedRequest[] = [];
  const events = new EventEmitter();
  const receiver: HttpReceiver = {
    url: "",
    requests,
    statusFor,
    async waitFor(n) {
      while (requests.length < n) await once(events, "request");
      return requests[n - 1]!;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      requests.push({
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      });
      res.statusCode = receiver.statusFor(requests.length);
      res.end("{}");
      events.emit("request");
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return receiver;
}
