// Where the pieces under test live. Everything can be overridden from the
// environment so the same suite runs from `make test`, `.ci/run` and by hand.
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const e2eDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const repoRoot = resolve(e2eDir, "..");
export const targetDir = process.env.CARGO_TARGET_DIR || join(homedir(), ".cache", "fieldbook-target");

/** The desktop app binary (`cargo build -p fieldbook`). */
export const appBinary = process.env.FIELDBOOK_APP_BIN || join(targetDir, "debug", "fieldbook");
/** The central server binary (`cargo build -p fieldbook-server`). */
export const serverBinary = process.env.FIELDBOOK_SERVER_BIN || join(targetDir, "debug", "fieldbook-server");

/** tauri-driver: $TAURI_DRIVER, else the tool cache `scripts/ensure-deps.sh` installs into, else PATH. */
export function tauriDriverBinary() {
  if (process.env.TAURI_DRIVER) return process.env.TAURI_DRIVER;
  const toolsDir = process.env.FIELDBOOK_TOOLS_DIR || join(homedir(), ".cache", "fieldbook-tools");
  const cached = join(toolsDir, "bin", "tauri-driver");
  return existsSync(cached) ? cached : "tauri-driver";
}

/** Screenshots of every screen go here (committed, shown in the README). */
export const screenshotDir = process.env.FIELDBOOK_SCREENSHOT_DIR || join(repoRoot, "docs", "screenshots");

/** ImageMagick by full path: an earlier `convert`/`import` on PATH may not be ImageMagick. */
export const imageMagick = { import: "/usr/bin/import", convert: "/usr/bin/convert" };

export function requireFile(path, hint) {
  if (!existsSync(path)) throw new Error(`${path} does not exist: ${hint}`);
  return path;
}
