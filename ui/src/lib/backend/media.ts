/** What the shell's `media://` scheme serves: a thumbnail or the original file. */
export type MediaUrlKind = "thumb" | "file";

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * URL of a stored blob through the shell's custom URI scheme. WebKit (Linux,
 * macOS) uses `media://localhost/…`; WebView2 (Windows) maps custom schemes
 * to `http://media.localhost/…`.
 */
export function mediaUrl(kind: MediaUrlKind, sha256: string): string {
  if (!SHA256_HEX.test(sha256)) throw new Error(`not a SHA-256 digest: ${sha256}`);
  const windows = typeof navigator !== "undefined" && /Windows/i.test(navigator.userAgent);
  return windows ? `http://media.localhost/${kind}/${sha256}` : `media://localhost/${kind}/${sha256}`;
}
