/**
 * A real SMTP server in the test process (smtp-server) that parses every message it receives
 * (mailparser), so tests can assert what nodemailer actually sent. Binds 127.0.0.1 only.
 */
import { EventEmitter, once } from "node:events";
import type { AddressInfo } from "node:net";
import { simpleParser, type ParsedMail } from "mailparser";
import { SMTPServer } from "smtp-server";

export interface SmtpSink {
  /** smtp://user:pass@127.0.0.1:port (the password is what `auth` accepts). */
  url: string;
  port: number;
  messages: ParsedMail[];
  /** Resolves with the n-th message (1-based) once it has arrived. */
  waitFor(n: number): Promise<ParsedMail>;
  close(): Promise<void>;
}

export async function startSmtpSink(
  auth: { user: string; password: string } = { user: "mailer", password: "smtp-pw-9f3k" },
): Promise<SmtpSink> {
  const messages: ParsedMail[] = [];
  const events = new EventEmitter();
  const server = new SMTPServer({
    secure: false,
    disabledCommands: ["STARTTLS"],
    allowInsecureAuth: true,
    authOptional: false,
    logger: false,
    onAuth(a, _session, cb) {
      if (a.username === auth.user && a.password === auth.password) cb(null, { user: a.username });
      else cb(new Error("invalid credentials"));
    },
    onData(stream, _session, cb) {
      simpleParser(stream)
        .then((mail) => {
          messages.push(mail);
          events.emit("message");
          cb();
        })
        .catch((err: Error) => cb(err));
    },
  });
  server.listen(0, "127.0.0.1");
  await once(server.server, "listening");
  const port = (server.server.address() as AddressInfo).port;
  return {
    url: `smtp://${auth.user}:${auth.password}@127.0.0.1:${port}`,
    port,
    messages,
    async waitFor(n) {
      while (messages.length < n) await once(events, "message");
      return messages[n - 1]!;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
