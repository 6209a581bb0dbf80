// Child processes the tests own: started with their output kept in a log
// file, stopped with SIGTERM (never SIGKILL: tauri-driver orphans
// WebKitWebDriver on KILL, which then holds the pipeline's stdout open).
import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.unref();
    probe.on("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolvePort(port));
    });
  });
}

/** Poll `check` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor(what, check, { timeoutMs = 30_000, intervalMs = 100 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${lastError.message}` : ""}`);
    }
    await sleep(intervalMs);
  }
}

/** Wait until something accepts HTTP GETs at `url` with a 2xx answer. */
export function waitForHttp(url, opts) {
  return waitFor(`${url} to answer`, async () => (await fetch(url, { signal: AbortSignal.timeout(2000) })).ok, opts);
}

/**
 * A started child process. `exited` resolves with {code, signal} when it ends.
 */
export class Child {
  constructor(name, command, args, { env = process.env, logFile, cwd } = {}) {
    this.name = name;
    this.logFile = logFile;
    this.process = spawn(command, args, { env, cwd, stdio: ["ignore", "pipe", "pipe"] });
    if (logFile) {
      const log = createWriteStream(logFile, { flags: "a" });
      this.process.stdout.pipe(log, { end: false });
      this.process.stderr.pipe(log, { end: false });
    } else {
      this.process.stdout.resume();
      this.process.stderr.resume();
    }
    this.exited = new Promise((resolveExit) => {
      this.process.on("exit", (code, signal) => resolveExit({ code, signal }));
    });
    this.spawnError = new Promise((_, reject) => this.process.on("error", reject));
    this.spawnError.catch(() => {});
  }

  get pid() {
    return this.process.pid;
  }

  get running() {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  /** SIGTERM and wait for the exit; complains (but never SIGKILLs) when it lingers. */
  async stop(timeoutMs = 15_000) {
    if (!this.running) return this.exited;
    this.process.kill("SIGTERM");
    const result = await Promise.race([this.exited, sleep(timeoutMs).then(() => null)]);
    if (result === null) throw new Error(`${this.name} (pid ${this.pid}) did not exit within ${timeoutMs} ms of SIGTERM`);
    return result;
  }
}
