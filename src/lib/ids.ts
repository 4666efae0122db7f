// Prefixed, random resource ids (`tkt_…`, `org_…`) from a cryptographic source.
const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz";
const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

export type IdPrefix = "org" | "user" | "key" | "tkt" | "con" | "cmt" | "tfd" | "fld" | "file" | "wh" | "evt" | "dlv" | "req";

/** Random characters drawn uniformly from `alphabet` (rejection sampling, so no modulo bias). */
export function randomString(length: number, alphabet: string): string {
  const limit = 256 - (256 % alphabet.length);
  let out = "";
  while (out.length < length) {
    const bytes = crypto.getRandomValues(new Uint8Array((length - out.length) * 2));
    for (const b of bytes) {
      if (b < limit) out += alphabet[b % alphabet.length];
      if (out.length === length) break;
    }
  }
  return out;
}

/** A new id such as `tkt_3k9x0q7m2p4d8s1a`: 16 lowercase base36 characters (~82 bits). */
export function newId(prefix: IdPrefix): string {
  return `${prefix}_${randomString(16, ALPHABET)}`;
}

/** Random base62 characters, for secrets that people copy and paste. */
export function randomBase62(length: number): string {
  return randomString(length, BASE62);
}

/** True when `value` has the shape of an id with this prefix (cheap check before a lookup). */
export function isIdOf(prefix: IdPrefix, value: string): boolean {
  return value.startsWith(`${prefix}_`) && /^[a-z]+_[0-9a-z]{1,64}$/.test(value);
}
