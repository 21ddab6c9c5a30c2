// Parsers of raw command-line option values shared by the commands; errors name the
// option, the rule and the value.

/** An integer option: `name` must be `rule` (checked by `ok`). */
export function intOption(name: string, raw: unknown, rule: string, ok: (v: number) => boolean): number {
  const s = String(raw).trim();
  const v = /^[+-]?\d+$/.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(v) || !ok(v)) throw new RangeError(`${name} must be ${rule}, got ${String(raw)}`);
  return v;
}
