// Webhook target URLs: the strict parse and normal form stored at registration (and re-checked before every send), and the masked form every response and log shows.

/** Why a URL was refused, worded to follow the field name (`url …`). */
export type UrlVerdict = { ok: true; url: string } | { ok: false; message: string };

const HTTP_ONLY = "must be an absolute http or https URL.";

/**
 * Parses `raw` as the dispatcher will send it and returns its normal form (WHATWG serialisation: lower-case
 * scheme and host, IDN as punycode, IPv4 shorthands spelled out, default port and dot segments dropped).
 * Refused, because they would not round-trip or mean something other than they look:
 * - anything but absolute http(s) with a host;
 * - whitespace or control characters inside (the WHATWG parser silently drops tabs and newlines);
 * - a `%` not followed by two hex digits, anywhere (the parser keeps it verbatim; decoding it throws later);
 * - credentials that do not percent-decode to UTF-8 (they are decoded to build the Authorization header);
 * - a fragment, even an empty one (it is never sent, so it can only mislead);
 * - a normal form longer than `maxLength` or one that does not parse back to itself.
 */
export function normalizeWebhookUrl(raw: string, maxLength = Infinity): UrlVerdict {
  const bad = (message: string): UrlVerdict => ({ ok: false, message });
  const text = raw.trim();
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0020\u007f-\u009f]/.test(text)) return bad("must not contain spaces or control characters (percent-encode them).");
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return bad(HTTP_ONLY);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return bad(HTTP_ONLY);
  if (!url.hostname) return bad("must name a host.");
  if (text.includes("#")) return bad("must not contain a fragment (#…).");
  if (/%(?![0-9A-Fa-f]{2})/.test(url.href)) return bad("has a bad percent-escape: % must be followed by two hex digits.");
  for (const part of [url.username, url.password]) {
    try {
      decodeURIComponent(part);
    } catch {
      return bad("has credentials that are not valid percent-encoded UTF-8.");
    }
  }
  const normal = url.href;
  if (normal.length > maxLength) return bad(`must be at most ${maxLength} characters once normalised.`);
  let again: string;
  try {
    again = new URL(normal).href;
  } catch {
    again = "";
  }
  if (again !== normal) return bad("does not have a stable normal form.");
  return { ok: true, url: normal };
}

/**
 * The send-time check of a stored URL: only what sending needs (it parses as absolute http(s) with a host,
 * and its credentials decode). Laxer than registration on purpose: a URL stored by an older version that
 * was delivered fine (say, with a stray `%` in its path) keeps working; one that cannot be sent fails its
 * attempt with this reason instead of throwing.
 */
export function sendableUrl(stored: string): { ok: true; url: URL } | { ok: false; message: string } {
  let url: URL;
  try {
    url = new URL(stored);
  } catch {
    return { ok: false, message: HTTP_ONLY };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return { ok: false, message: HTTP_ONLY };
  if (!url.hostname) return { ok: false, message: "must name a host." };
  try {
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
  } catch {
    return { ok: false, message: "has credentials that are not valid percent-encoded UTF-8." };
  }
  return { ok: true, url };
}

/** What stands in for a hidden password (or a bare user name) in responses and logs. */
export const MASK = "****";

/**
 * The URL as responses and logs show it: a password is replaced by ****, and so is a user name without a
 * password (such a user name is usually a token). Never throws: an unparseable stored URL is shown with
 * anything between `//` and `@` masked.
 */
export function maskUrl(stored: string): string {
  let url: URL;
  try {
    url = new URL(stored);
  } catch {
    return stored.replace(/\/\/[^/?#]*@/, `//${MASK}@`);
  }
  if (!url.username && !url.password) return stored;
  if (url.password) url.password = MASK;
  else url.username = MASK;
  return url.href;
}

/** Replaces every appearance of the URL's secrets (raw or decoded) in `text`; for error messages that might echo them. */
export function scrubSecrets(text: string, stored: string): string {
  let url: URL;
  try {
    url = new URL(stored);
  } catch {
    return text;
  }
  const secret = url.password || url.username;
  // A very short secret would match all over an unrelated message; such a secret protects little anyway.
  if (secret.length < 4) return text;
  let out = text;
  const forms = new Set([secret]);
  try {
    forms.add(decodeURIComponent(secret));
  } catch {}
  for (const s of forms) if (s) out = out.split(s).join(MASK);
  return out;
}

/**
 * A PATCH that sends back the URL as responses show it (`https://user:****@host/…`) means "keep the
 * credentials": the stored ones are put back in place of the mask. Anything else is returned unchanged.
 */
export function restoreMaskedCredentials(raw: string, stored: string): string {
  let next: URL;
  let before: URL;
  try {
    next = new URL(raw.trim());
    before = new URL(stored);
  } catch {
    return raw;
  }
  if (next.password === MASK && before.password && next.username === before.username) next.password = before.password;
  else if (next.username === MASK && !next.password && before.username && !before.password) next.username = before.username;
  else return raw;
  return next.href;
}
