/**
 * `COPY ... TO STDOUT` as a Readable of the COPY data bytes: a node-postgres Submittable, used as
 * `client.query(copyOut(sql))`, with `rowCount` set from the CommandComplete message.
 *
 * It works as pg-copy-streams' `to()` does (MIT; its README and copy-to.js): while the COPY runs
 * it takes the connection's socket from node-postgres (removes pg's 'data' listener, reads the
 * socket itself, so backpressure reaches the server), and when the COPY ends (CopyDone) or fails
 * (ErrorResponse) it hands the socket back with the bytes it has not consumed, so pg parses the
 * ErrorResponse, CommandComplete and ReadyForQuery and settles the query.
 *
 * What differs is the parsing, on the dump's hot path (issue 14): the server sends one CopyData
 * message per row, and pg-copy-streams made a Buffer object per message, queued it and
 * concatenated the queue (~0.8 s of client CPU per 1M rows, a fifth of the dump's). Here each
 * socket read is compacted in place: the payloads of its CopyData messages are moved over their
 * 5-byte headers (`copyWithin`, no allocation), and one view of the result is pushed per read.
 * The socket's buffers belong to this stream once read; the bytes handed back to pg are never
 * written to. NoticeResponse, ParameterStatus and NotificationResponse messages in between are
 * skipped, as the protocol allows (PostgreSQL docs, "COPY Operations").
 */
import { Readable } from "node:stream";
import type { Connection } from "pg";
import { paceGc } from "../format/gc-pacer.js";

const COPY_DATA = 0x64; // d
const COPY_DONE = 0x63; // c
const COPY_OUT_RESPONSE = 0x48; // H
const ERROR_RESPONSE = 0x45; // E
const NOTICE_RESPONSE = 0x4e; // N
const PARAMETER_STATUS = 0x53; // S
const NOTIFICATION_RESPONSE = 0x41; // A
/** Message code and length. */
const HEADER = 5;

/** node-postgres' Connection, with the untyped `query` this stream sends the COPY with. */
type PgConnection = Connection & { query(text: string): void };

export class CopyOutStream extends Readable {
  /** Rows copied, from the server's CommandComplete (valid once the query has settled). */
  rowCount = 0;
  readonly text: string;
  #connection: PgConnection | null = null;
  #pgDataHandler: ((chunk: Buffer) => void) | null = null;
  #drained = false;
  #forwarding = false;
  #done = false;
  /** CopyDone was read; the stream ends once the query has settled (rowCount is then known). */
  #copyDone = false;
  #settled = false;
  /** Bytes of a header or of a whole non-data message split across reads (joined to the next). */
  #partial: Buffer | null = null;
  /** Payload bytes of the current CopyData message still to come in later reads. */
  #remaining = 0;

  constructor(text: string) {
    super();
    this.text = text;
  }

  /** Called by node-postgres when the query is sent. */
  submit(pgConnection: Connection): void {
    const connection = pgConnection as PgConnection;
    this.#connection = connection;
    const stream = connection.stream;
    const listeners = stream.listeners("data") as ((chunk: Buffer) => void)[];
    if (listeners.length !== 1)
      throw new Error(`COPY TO: expected one 'data' listener on the socket, found ${listeners.length}`);
    this.#pgDataHandler = listeners[0]!;
    stream.removeListener("data", this.#pgDataHandler);
    stream.pause();
    this.#forward();
    stream.on("readable", this.#onReadable);
    connection.query(this.text);
  }

  /** node-postgres: the query failed (an ErrorResponse, or the connection ended). */
  handleError(err: Error): void {
    this.destroy(err);
  }

  /** node-postgres: `COPY <n>`. */
  handleCommandComplete(msg: { text?: string } | undefined): void {
    const match = /COPY (\d+)/.exec(msg?.text ?? "");
    if (match) this.rowCount = Number(match[1]);
  }

  /** node-postgres: the query is over; CommandComplete (the row count) came before it. */
  handleReadyForQuery(): void {
    this.#settled = true;
    if (this.#copyDone) this.push(null);
  }

  override _read(): void {
    this.#drained = true;
    this.#forward();
  }

  readonly #onReadable = (): void => {
    this.#forward();
  };

  #forward(): void {
    const connection = this.#connection;
    if (this.#forwarding || !this.#drained || connection === null || this.#done) return;
    this.#forwarding = true;
    let chunk: Buffer | null;
    while (this.#drained && !this.#done && (chunk = connection.stream.read() as Buffer | null) !== null) {
      paceGc(chunk.length);
      this.#drained = this.#parse(chunk);
    }
    this.#forwarding = false;
  }

  /** Compacts one read to its COPY data and pushes it; returns push()'s answer. */
  #parse(chunk: Buffer): boolean {
    let buf = chunk;
    if (this.#partial !== null) {
      buf = Buffer.concat([this.#partial, chunk]);
      this.#partial = null;
    }
    const end = buf.length;
    let pos = 0;
    let w = 0;
    // The rest of a CopyData message begun in an earlier read.
    if (this.#remaining > 0) {
      const n = Math.min(this.#remaining, end);
      this.#remaining -= n;
      pos = n;
      w = n;
    }
    let stop: "done" | "error" | "other" | null = null;
    while (pos < end) {
      if (end - pos < HEADER) {
        this.#partial = buf.subarray(pos);
        break;
      }
      const code = buf[pos]!;
      const length = buf.readUInt32BE(pos + 1);
      if (code === COPY_DATA) {
        const start = pos + HEADER;
        const size = length - 4;
        const n = Math.min(size, end - start);
        buf.copyWithin(w, start, start + n);
        w += n;
        pos = start + n;
        this.#remaining = size - n;
        continue;
      }
      if (code === ERROR_RESPONSE) {
        stop = "error";
        break;
      }
      if (end - pos < 1 + length) {
        // A whole message is needed to skip it or to end on it.
        this.#partial = buf.subarray(pos);
        break;
      }
      if (code === COPY_DONE) {
        pos += 1 + length;
        stop = "done";
        break;
      }
      if (
        code === COPY_OUT_RESPONSE ||
        code === NOTICE_RESPONSE ||
        code === PARAMETER_STATUS ||
        code === NOTIFICATION_RESPONSE
      ) {
        pos += 1 + length;
        continue;
      }
      // Any other message ends copy-out mode (protocol docs); pg handles it.
      stop = "other";
      break;
    }
    const more = w > 0 ? this.push(buf.subarray(0, w)) : true;
    if (stop === null) return more;
    // Back to node-postgres with what is left: the error, or CommandComplete and ReadyForQuery.
    this.#done = true;
    this.#detach(buf.subarray(pos));
    if (stop !== "error") {
      this.#copyDone = true;
      if (this.#settled) this.push(null);
    }
    return false;
  }

  #detach(unread: Buffer): void {
    const connection = this.#connection!;
    const stream = connection.stream;
    const handler = this.#pgDataHandler!;
    stream.removeListener("readable", this.#onReadable);
    stream.addListener("data", handler);
    handler(unread);
    // Adding the 'data' listener may have paused the socket again; resume once pg's handler ran.
    process.nextTick(() => stream.resume());
  }
}

/** A `COPY ... TO STDOUT` query for `client.query()`. */
export function copyOut(text: string): CopyOutStream {
  return new CopyOutStream(text);
}
