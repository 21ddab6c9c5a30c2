// Parameter checks with one message shape (as sharp does):
// "Expected <rule> for <name> but received <value> of type <type>".
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return `'${value}' of type string`;
  if (Array.isArray(value)) return `[${value.slice(0, 8).join(', ')}${value.length > 8 ? ', ...' : ''}] of type array`;
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${(value as Float32Array).length})`;
  return `${String(value)} of type ${value === null ? 'null' : typeof value}`;
}

export function invalidParameter(name: string, rule: string, value: unknown): TypeError {
  return new TypeError(`Expected ${rule} for ${name} but received ${describeValue(value)}`);
}

export function invalidRange(name: string, rule: string, value: unknown): RangeError {
  return new RangeError(`Expected ${rule} for ${name} but received ${describeValue(value)}`);
}

export function isInteger(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

export function checkInteger(name: string, value: unknown, min = -Infinity, max = Infinity): number {
  if (!isInteger(value)) throw invalidParameter(name, 'an integer', value);
  if (value < min || value > max) {
    const rule =
      max === Infinity ? `an integer >= ${min}` : min === -Infinity ? `an integer <= ${max}` : `an integer between ${min} and ${max}`;
    throw invalidRange(name, rule, value);
  }
  return value;
}

export function checkNumber(name: string, value: unknown, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || Number.isNaN(value)) throw invalidParameter(name, 'a number', value);
  if (value < min || value > max) throw invalidRange(name, `a number between ${min} and ${max}`, value);
  return value;
}

export function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw invalidParameter(name, 'a boolean', value);
  return value;
}

export function checkIntegerArray(name: string, value: unknown, min = -Infinity): number[] {
  if (!Array.isArray(value) || !value.every(isInteger)) throw invalidParameter(name, 'an array of integers', value);
  value.forEach((v, i) => checkInteger(`${name}[${i}]`, v, min));
  return value as number[];
}

export function checkOneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !allowed.includes(value as T))
    throw invalidParameter(name, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, value);
  return value as T;
}
