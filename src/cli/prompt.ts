/** Questions on a TTY (confirmation, the interactive restore menu). */
import { createInterface } from "node:readline/promises";

/** Is there a person at the terminal to ask? */
export function canAsk(): boolean {
  return process.stdin.isTTY === true && process.stderr.isTTY === true;
}

/** Asks one question on stderr and returns the trimmed answer. */
export async function ask(question: string, signal?: AbortSignal): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  try {
    return (await rl.question(question, signal ? { signal } : {})).trim();
  } finally {
    rl.close();
  }
}
