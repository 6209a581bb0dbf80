// The real desktop app under tauri-driver + WebKitWebDriver, driven with
// WebdriverIO. Environment variables set on tauri-driver reach the app.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { remote } from "webdriverio";
import { appBinary, requireFile, tauriDriverBinary } from "./env.mjs";
import { Child, freePort, waitFor } from "./processes.mjs";

export class AppUnderTest {
  /**
   * @param {object} opts
   * @param {Record<string,string>} opts.env  FIELDBOOK_* variables for the app
   * @param {string} opts.logFile             tauri-driver (and app) output
   * @param {string} [opts.application]       the binary (default: the fieldbook app)
   */
  constructor({ env, logFile, application = appBinary }) {
    this.env = env;
    this.application = application;
    this.logFile = logFile;
    this.driver = null;
    this.browser = null;
  }

  /**
   * Start tauri-driver and open a session, which launches the app. A driver
   * that does not answer the session request in time (WebKitWebDriver
   * occasionally never comes up on a loaded machine) is stopped and the
   * launch tried once more.
   */
  async launch({ attempts = 2, sessionTimeoutMs = 90_000 } = {}) {
    requireFile(this.application, "build it with `cargo build -p fieldbook` (after `npm run build` in ui/)");
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#launchOnce(sessionTimeoutMs);
      } catch (err) {
        await this.quit().catch(() => {});
        if (attempt >= attempts) throw err;
        console.warn(`launch attempt ${attempt} failed (${err.message}); retrying`);
      }
    }
  }

  async #launchOnce(sessionTimeoutMs) {
    const port = await freePort();
    const nativePort = await freePort();
    this.driver = new Child("tauri-driver", tauriDriverBinary(), ["--port", String(port), "--native-port", String(nativePort)], {
      logFile: this.logFile,
      env: { ...process.env, ...this.env },
    });
    await Promise.race([
      waitFor("tauri-driver to listen", () => fetch(`http://127.0.0.1:${port}/status`).then(() => true), { timeoutMs: 20_000 }),
      this.driver.spawnError,
    ]);
    let timer;
    this.sessionRequestedAt = Date.now();
    const session = remote({
      hostname: "127.0.0.1",
      port,
      logLevel: "warn",
      connectionRetryTimeout: sessionTimeoutMs,
      connectionRetryCount: 0,
      capabilities: {
        // WebKitWebDriver speaks classic WebDriver only.
        "wdio:enforceWebDriverClassic": true,
        "tauri:options": { application: this.application },
      },
    });
    try {
      this.browser = await Promise.race([
        session,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no WebDriver session within ${sessionTimeoutMs} ms`)), sessionTimeoutMs);
        }),
        this.driver.exited.then(({ code, signal }) => {
          throw new Error(`tauri-driver exited (code ${code}, signal ${signal}) before the session opened`);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
    return this.browser;
  }

  /**
   * Quit the way a technician does, with the window's close button, and
   * wait for the app to exit; then stop the driver. WebDriver cannot do
   * this (ending the session ends the app without its exit path) and the
   * E2E display has no window manager, so the close message is sent by
   * hand (`close-window.py`).
   */
  async closeWindow({ timeoutMs = 15_000 } = {}) {
    const pids = processesOf(this.application, this.env.FIELDBOOK_DATA_DIR);
    if (pids.length !== 1) throw new Error(`expected one app process, found ${pids.length}`);
    execFileSync("python3", [CLOSE_WINDOW, String(pids[0])], { stdio: ["ignore", "inherit", "inherit"] });
    // An exited child of the driver is a zombie until reaped: its exe link is gone.
    await waitFor("the app to quit after its window closed", () => processesOf(this.application, this.env.FIELDBOOK_DATA_DIR).length === 0, {
      timeoutMs,
    });
    await this.quit();
  }

  /**
   * End the session (closes the app) and stop tauri-driver with SIGTERM.
   * An app that outlived both (a session end that timed out on a loaded
   * machine) is stopped too: it would keep its data folder locked for the
   * next launch and hold the test's log pipe open, so the test never ends.
   */
  async quit() {
    try {
      if (this.browser) await this.browser.deleteSession();
    } catch {
      // The app may already be gone; the driver is stopped below either way.
    } finally {
      this.browser = null;
      if (this.driver) await this.driver.stop();
      this.driver = null;
      await stopLeftovers(this.application, this.env.FIELDBOOK_DATA_DIR);
    }
  }
}

/** Sends a window manager's "close" to a process's windows (close-window.py). */
const CLOSE_WINDOW = fileURLToPath(new URL("./close-window.py", import.meta.url));

/** Pids of running `binary` processes started with FIELDBOOK_DATA_DIR=`dataDir`. */
function processesOf(binary, dataDir) {
  const found = [];
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      if (readlinkSync(`/proc/${pid}/exe`) !== binary) continue;
      const env = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
      if (dataDir === undefined || env.includes(`FIELDBOOK_DATA_DIR=${dataDir}`)) found.push(Number(pid));
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return found;
}

async function stopLeftovers(binary, dataDir) {
  for (const signal of ["SIGTERM", "SIGKILL"]) {
    const pids = processesOf(binary, dataDir);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, signal);
      } catch {
        // Already gone.
      }
    }
    await waitFor("a leftover app to exit", () => processesOf(binary, dataDir).length === 0, { timeoutMs: 5_000 }).catch(() => {});
  }
}
