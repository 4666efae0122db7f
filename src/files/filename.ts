// Client filenames: cleaned once on upload (metadata only, never a path) and encoded for Content-Disposition (RFC 6266/5987).

export const FILENAME_MAX = 255;

// C0/C1 controls and DEL, plus the bidirectional overrides that make "gpj.exe" look like "exe.jpg".
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/**
 * The filename as sent, Unicode included, minus any directory part (`/` or `\`) and control
 * characters, cut to 255 characters keeping the extension; an empty result, `.` or `..` becomes `file`.
 */
export function cleanFilename(raw: string | undefined | null): string {
  let name = (raw ?? "").replace(CONTROL, "");
  const slash = Math.max(name.lastIndexOf("/"), name.lastIndexOf("\\"));
  if (slash !== -1) name = name.slice(slash + 1);
  if (name === "" || name === "." || name === "..") return "file";
  const chars = [...name];
  if (chars.length <= FILENAME_MAX) return name;
  const dot = name.lastIndexOf(".");
  const ext = dot > 0 ? [...name.slice(dot)] : [];
  const keepExt = ext.length > 0 && ext.length <= 16 ? ext : [];
  return chars.slice(0, FILENAME_MAX - keepExt.length).join("") + keepExt.join("");
}

/** RFC 5987 value-chars: percent-encode everything but attr-char. */
function encodeExtValue(value: string): string {
  return encodeURIComponent(value).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * `attachment; filename="report_.pdf"; filename*=UTF-8''report%C3%A9.pdf`: an ASCII fallback for old
 * clients (non-ASCII, quotes, backslashes and `%` replaced by `_`) and the exact name for the rest.
 */
export function contentDisposition(kind: "inline" | "attachment", filename: string): string {
  const fallback = filename.replace(/[^\x20-\x7e]|["\\%]/g, "_");
  return `${kind}; filename="${fallback}"; filename*=UTF-8''${encodeExtValue(filename)}`;
}
