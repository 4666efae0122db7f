// API key secrets: generation, hashing and shape checks. Pure functions, no storage.
import { randomBase62 } from "../lib/ids";

export const KEY_PREFIX = "cc_";
const SECRET_CHARS = 40;
const SHAPE = /^cc_[0-9A-Za-z]{32,128}$/;

/** A new secret: `cc_` + 40 base62 characters (~238 bits) from a cryptographic source. */
export function generateSecret(): string {
  return KEY_PREFIX + randomBase62(SECRET_CHARS);
}

/** The stored form of a secret: SHA-256, hex. The secret itself is never stored. */
export function hashSecret(secret: string): string {
  return new Bun.CryptoHasher("sha256").update(secret).digest("hex");
}

/** What a person sees to recognise a key in lists (`cc_Ab3x9K…`); too short to be used. */
export function displayPrefix(secret: string): string {
  return secret.slice(0, KEY_PREFIX.length + 6);
}

/** Cheap check before any lookup: a string that cannot be one of our keys is rejected without touching the db. */
export function looksLikeSecret(value: string): boolean {
  return SHAPE.test(value);
}
