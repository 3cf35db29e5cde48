/**
 * The HTTP transport the minio client sends through: it applies the idle timeout
 * (`ioTimeoutMs`) and the AbortSignal of the current call, and records what the server answered
 * for the retry decision. Per-call state reaches it through an AsyncLocalStorage, because minio
 * offers no per-request options.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import * as http from "node:http";
import * as https from "node:https";

import type { ClientOptions, S3Error } from "minio";

import { minio } from "./minio.js";

/** Per-attempt state shared with the transport. */
export interface RequestContext {
  signal: AbortSignal | undefined;
  /** Status of the last response. */
  status: number | undefined;
  /** The S3 error of the last response with a status minio would retry itself (see below). */
  failure: Promise<ServerFailure> | undefined;
}

export interface ServerFailure {
  status: number;
  code: string | undefined;
  message: string | undefined;
}

/** The error a request or a response stream fails with when no byte moved for `ioTimeoutMs`. */
export class IoTimeoutError extends Error {
  readonly code = "PGSNAP_IO_TIMEOUT";
  constructor(readonly timeoutMs: number) {
    super(`no byte moved for ${timeoutMs} ms`);
  }
}

/**
 * Statuses on which minio's requestWithRetry throws a bare "Retryable HTTP status" Error (even
 * with retries disabled) without reading the answer: the transport reads the S3 error itself,
 * which also frees the socket.
 */
const MINIO_RETRY_STATUSES = new Set([408, 429, 499, 500, 502, 503, 504, 520]);

export const requestContext = new AsyncLocalStorage<RequestContext>();

/** A fresh context for one attempt. */
export function newRequestContext(signal: AbortSignal | undefined): RequestContext {
  return { signal, status: undefined, failure: undefined };
}

/**
 * An http(s) transport for minio. `ioTimeoutMs` (0: none) is the socket's idle timeout for the
 * whole exchange, the response body included: a stalled answer or a stalled download fails with
 * IoTimeoutError (the response stream, if any, is destroyed with it too).
 */
export function timedTransport(secure: boolean, ioTimeoutMs: number): NonNullable<ClientOptions["transport"]> {
  const request = (
    options: http.RequestOptions,
    callback?: (res: http.IncomingMessage) => void,
  ): http.ClientRequest => {
    const context = requestContext.getStore();
    let response: http.IncomingMessage | undefined;
    const onResponse = (res: http.IncomingMessage): void => {
      response = res;
      if (context !== undefined) {
        context.status = res.statusCode;
        if (res.statusCode !== undefined && MINIO_RETRY_STATUSES.has(res.statusCode)) {
          context.failure = readFailure(res, res.statusCode);
        }
      }
      callback?.(res);
    };
    const withTimeout: http.RequestOptions = {
      ...options,
      ...(ioTimeoutMs > 0 ? { timeout: ioTimeoutMs } : {}),
      signal: context?.signal,
    };
    const req = secure ? https.request(withTimeout, onResponse) : http.request(withTimeout, onResponse);
    if (ioTimeoutMs > 0) {
      req.once("timeout", () => {
        const err = new IoTimeoutError(ioTimeoutMs);
        response?.destroy(err);
        req.destroy(err);
      });
    }
    return req;
  };
  return { request } as unknown as NonNullable<ClientOptions["transport"]>;
}

/** Reads (at most 64 KiB of) an S3 XML error answer; never rejects. */
function readFailure(res: http.IncomingMessage, status: number): Promise<ServerFailure> {
  return new Promise<ServerFailure>((resolve) => {
    let text = "";
    const done = (): void => {
      const tag = (name: string): string | undefined =>
        new RegExp(`<${name}>([^<]*)</${name}>`)
          .exec(text)?.[1]
          ?.replace(/&(lt|gt|amp|apos|quot);/g, (_m, e: string) => XML_ENTITIES[e] ?? "");
      resolve({ status, code: tag("Code"), message: tag("Message") });
    };
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => {
      if (text.length < 65_536) text += chunk;
    });
    res.once("end", done);
    res.once("close", done);
    res.once("error", done);
  });
}

const XML_ENTITIES: Record<string, string> = { lt: "<", gt: ">", amp: "&", apos: "'", quot: '"' };

/** The S3Error minio would have thrown had it read the answer. */
export function toS3Error(failure: ServerFailure, original: unknown): S3Error {
  const text = failure.message === undefined || failure.message === "" ? "" : `${failure.message} `;
  const err = new (minio().S3Error)(`${text}(HTTP ${failure.status})`, { cause: original });
  err.code = failure.code ?? `HTTP${failure.status}`;
  return err;
}
