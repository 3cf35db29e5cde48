/** Parsers of flag values shared by several commands. */
import { UsageError } from "../errors.js";

/** Parser of a repeatable flag (`--tenant a --tenant b`). */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Parser of comma-separated, repeatable list flags (`--tables a,b --tables c`); commas inside double quotes stay. */
export const list = (value: string, previous: string[] = []): string[] => [
  ...previous,
  ...(value.match(/(?:"(?:[^"]|"")*"|[^,"])+/g) ?? []).map((s) => s.trim()).filter(Boolean),
];

/** Parser of an integer flag within [min, max]. */
export function intOption(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new UsageError("USAGE_BAD_NUMBER", `${name} must be an integer from ${min} to ${max}, got ${value}`);
    }
    return n;
  };
}
