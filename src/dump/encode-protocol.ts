/**
 * Messages between the dump and its encode workers (./encode-worker.ts, ./table-encoder.ts), and
 * how an error crosses the thread boundary: structured clone keeps only an Error's message, so
 * pgsnap's own errors travel as their name, code and hint and are rebuilt as the same class.
 */
import { IntegrityError, PgsnapError } from "../errors.js";
import type { EncodeResult, EncodeSpec } from "./encode-stages.js";

export type ToWorker =
  | { type: "begin"; spec: EncodeSpec }
  | { type: "data"; buf: ArrayBuffer }
  | { type: "end" }
  | { type: "ack" }
  | { type: "abort" };

export type FromWorker =
  | { type: "pull"; rows: number; bytes: number }
  | { type: "out"; buf: ArrayBuffer }
  | { type: "done"; result: EncodeResult }
  | { type: "error"; error: SerializedError };

export interface SerializedError {
  name: string;
  message: string;
  code?: string | undefined;
  hint?: string | undefined;
  stack?: string | undefined;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof PgsnapError) {
    return { name: err.name, message: err.message, code: err.code, hint: err.hint, stack: err.stack };
  }
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return {
      name: err.name,
      message: err.message,
      code: typeof code === "string" ? code : undefined,
      stack: err.stack,
    };
  }
  return { name: "Error", message: String(err) };
}

/**
 * The error a worker reported, as the class it was thrown as. The encode stages throw only
 * IntegrityError (malformed or truncated input) among pgsnap's errors; anything else is a bug
 * and stays a plain Error (exit 1) carrying the worker's message and stack.
 */
export function deserializeError(e: SerializedError): Error {
  if (e.name === "IntegrityError" && e.code !== undefined) {
    return new IntegrityError(e.code, e.message, { hint: e.hint });
  }
  const err = new Error(`${e.message} (in the encode worker)`);
  if (e.code !== undefined) (err as { code?: string }).code = e.code;
  if (e.stack !== undefined) err.stack = e.stack;
  return err;
}
