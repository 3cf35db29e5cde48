/**
 * The minio client of one bucket, with every request going through the retry wrapper and the
 * timed transport. Held in a private field of S3Storage: it carries the secret key.
 */
import * as http from "node:http";
import * as https from "node:https";

import type { Client, ClientOptions } from "minio";

import { PgsnapError } from "../../errors.js";
import { withRetry } from "../retry.js";
import type { Operation } from "./errors.js";
import { S3Errors, isRetryable } from "./errors.js";
import { minio } from "./minio.js";
import type { ResolvedS3Settings } from "./settings.js";
import type { RequestContext } from "./transport.js";
import { newRequestContext, requestContext, timedTransport, toS3Error } from "./transport.js";

export class S3Client {
  readonly client: Client;
  readonly errors: S3Errors;
  readonly #agent: http.Agent;

  constructor(
    readonly bucket: string,
    readonly prefix: string,
    readonly settings: ResolvedS3Settings,
  ) {
    this.errors = new S3Errors(bucket, prefix, settings.endpoint, [settings.secretKey]);
    this.#agent = settings.secure ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
    const options: ClientOptions = {
      endPoint: settings.hostname,
      useSSL: settings.secure,
      accessKey: settings.accessKey,
      secretKey: settings.secretKey,
      partSize: settings.partSize,
      pathStyle: settings.pathStyle,
      transport: timedTransport(settings.secure, settings.ioTimeoutMs),
      transportAgent: this.#agent,
      // Retries happen in request() (withRetry), with the error kept and without console output.
      retryOptions: { disableRetry: true },
    };
    if (settings.port !== undefined) options.port = settings.port;
    if (settings.region !== undefined) options.region = settings.region;
    this.client = new (minio().Client)(options);
  }

  /** The object name of `key` in the bucket. */
  name(key: string): string {
    return this.prefix + key;
  }

  /**
   * Runs `fn` (a few minio requests) with retries and exponential backoff; failures become
   * StorageErrors, an abort of `signal` an InterruptedError.
   */
  request<T>(operation: Operation, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    return withRetry<T, RequestContext>(
      this.settings.retry,
      signal,
      {
        context: () => newRequestContext(signal),
        explain: async (caught, context) =>
          context.failure === undefined ? caught : toS3Error(await context.failure, caught),
        retryable: (err, context) => !(err instanceof PgsnapError) && isRetryable(err, context.status),
        giveUp: (err, attempts) => this.errors.toStorageError(err, operation, attempts),
        interrupted: (cause) => this.errors.interrupted(operation, cause),
      },
      (context) => requestContext.run(context, fn),
    );
  }

  close(): void {
    this.#agent.destroy();
  }
}
