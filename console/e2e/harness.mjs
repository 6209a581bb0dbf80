// The pieces of the console's browser E2E: the real server (the desktop E2E's
// DemoServer), Debian's Chromium driven by playwright-core, and a technician
// device driven by the real sync engine (crates/sync/examples/console_device.rs).
import { execFile } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { chromium } from "playwright-core";
import { repoRoot, requireFile, targetDir } from "../../e2e/lib/env.mjs";

export { DemoServer } from "../../e2e/lib/server.mjs";
export { waitFor } from "../../e2e/lib/processes.mjs";

const run = promisify(execFile);

export const screenshotDir = process.env.FIELDBOOK_CONSOLE_SCREENSHOT_DIR || join(repoRoot, "docs", "screenshots", "console");
export const deviceBinary = process.env.FIELDBOOK_CONSOLE_DEVICE_BIN || join(targetDir, "debug", "examples", "console_device");
const chromiumPath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

/** The two screen sizes the console must be readable at. */
export const SIZES = [
  { width: 1920, height: 1080 },
  { width: 1366, height: 768 },
];

/** Demo accounts from `seed-demo`'s output: "  user / password / role / teams". */
export function parseCredentials(text) {
  return text
    .split("\n")
    .map((line) => line.trim().split(" / "))
    .filter((parts) => parts.length === 4)
    .map(([username, password, role, teams]) => ({ username, password, role, teams: teams === "-" ? [] : teams.split(", ") }));
}

export async function launchBrowser(userDataDir) {
  requireFile(chromiumPath, "install Debian's chromium (scripts/ensure-deps.sh test)");
  // Flags from docs: without the networking ones Chromium floods the closed network.
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    viewport: SIZES[0],
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}

/** Screenshots of the page as it is, at both sizes, as docs/screenshots/console/NAME-WxH.png. */
export async function shoot(page, name) {
  mkdirSync(screenshotDir, { recursive: true });
  // The confirmation of the previous action fades after 3 s: not part of this screen.
  await page.waitForSelector(".toast", { state: "detached", timeout: 5000 });
  for (const size of SIZES) {
    await page.setViewportSize(size);
    await page.waitForTimeout(150); // layout settles after the resize
    await page.screenshot({ path: join(screenshotDir, `${name}-${size.width}x${size.height}.png`) });
  }
  await page.setViewportSize(SIZES[0]);
}

/** A technician's laptop: one data dir, one step per run of the example binary. */
export class Device {
  constructor(dataDir) {
    this.dataDir = dataDir;
  }

  async step(command, flags = {}) {
    requireFile(deviceBinary, "build it with `cargo build -p fieldbook-sync --example console_device`");
    const args = [command, "--data", this.dataDir];
    for (const [name, value] of Object.entries(flags)) args.push(`--${name}`, String(value));
    try {
      const { stdout } = await run(deviceBinary, args, { maxBuffer: 4 << 20, timeout: 120_000 });
      return JSON.parse(stdout.trim().split("\n").pop());
    } catch (e) {
      throw new Error(`device step ${command} failed: ${e.stderr || e.message}`);
    }
  }

  signIn(server, username, password) {
    return this.step("sign-in", { server, user: username, password });
  }

  sync() {
    return this.step("sync");
  }

  status(installation) {
    return this.step("status", { installation });
  }

  workOffline(installation, photos) {
    return this.step("work-offline", { installation, photos });
  }
}

/** SHA-256 (hex) of the bytes at `url`, fetched by the page itself with its session. */
export function sha256InPage(page, url) {
  return page.evaluate(async (u) => {
    const response = await fetch(u, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`${u}: ${response.status}`);
    const digest = await crypto.subtle.digest("SHA-256", await response.arrayBuffer());
    return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  }, url);
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
