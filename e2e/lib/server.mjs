// A real fieldbook-server on a free loopback port, with demo data in a
// throwaway directory. It can be stopped and started again on the same data
// directory and port (the golden path takes the device offline that way).
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { serverBinary, requireFile } from "./env.mjs";
import { Child, freePort, waitForHttp } from "./processes.mjs";

const run = promisify(execFile);

export class DemoServer {
  /** @param {string} workDir a temp dir the server may fill */
  constructor(workDir) {
    this.dataDir = join(workDir, "server");
    this.logFile = join(workDir, "server.log");
    this.port = null;
    this.child = null;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** `seed-demo` once; returns the printed credentials text. */
  async seed({ installations, teams } = {}) {
    requireFile(serverBinary, "build it with `cargo build -p fieldbook-server`");
    const args = ["seed-demo", "--data-dir", this.dataDir];
    if (installations !== undefined) args.push("--installations", String(installations));
    if (teams !== undefined) args.push("--teams", String(teams));
    const { stdout } = await run(serverBinary, args, { maxBuffer: 16 << 20 });
    return stdout;
  }

  async start() {
    if (this.child?.running) throw new Error("the server is already running");
    this.port ??= await freePort();
    this.child = new Child("fieldbook-server", serverBinary, ["serve", "--addr", `127.0.0.1:${this.port}`, "--data-dir", this.dataDir], {
      logFile: this.logFile,
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "info" },
    });
    await Promise.race([
      waitForHttp(`${this.url}/api/v1/health`, { timeoutMs: 30_000 }),
      this.child.exited.then(({ code, signal }) => {
        throw new Error(`fieldbook-server exited (code ${code}, signal ${signal}) before answering; see ${this.logFile}`);
      }),
      this.child.spawnError,
    ]);
  }

  async stop() {
    if (this.child) await this.child.stop();
  }

  /** Path of a blob in the server's content-addressed store (blobs/<2 hex>/<hex>). */
  blobPath(sha256) {
    return join(this.dataDir, "blobs", sha256.slice(0, 2), sha256);
  }
}

/** A signed-in client of the server's HTTP API (read routes used to verify what arrived). */
export class ApiClient {
  constructor(baseUrl, token) {
    this.baseUrl = baseUrl;
    this.token = token;
  }

  static async login(baseUrl, username, password) {
    const res = await fetch(`${baseUrl}/api/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username, password }),
    });
    if (!res.ok) throw new Error(`login as ${username} failed: ${res.status} ${await res.text()}`);
    const { token } = await res.json();
    return new ApiClient(baseUrl, token);
  }

  async get(path) {
    const res = await fetch(`${this.baseUrl}${path}`, { headers: { authorization: `Bearer ${this.token}` } });
    if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
    return res.json();
  }

  /** A file the API answers (not JSON): its bytes and content type. */
  async download(path) {
    const res = await fetch(`${this.baseUrl}${path}`, { headers: { authorization: `Bearer ${this.token}` } });
    if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
    return { bytes: Buffer.from(await res.arrayBuffer()), contentType: res.headers.get("content-type") };
  }

  /** Every page of /sync/pull, concatenated per record kind. */
  async pullAll() {
    const all = { installations: [], assignments: [], reports: [], media: [] };
    let cursor = 0;
    for (;;) {
      const page = await this.get(`/api/v1/sync/pull?cursor=${cursor}&limit=1000`);
      for (const kind of Object.keys(all)) all[kind].push(...page[kind]);
      if (!page.has_more) return all;
      cursor = page.next_cursor;
    }
  }

  /**
   * Whether the server already holds a blob, asked the way a device does: a
   * tus creation POST for a known hash answers 200 with
   * `Fieldbook-Blob-Exists: true` and uploads nothing.
   */
  async blobExists(sha256, size) {
    const res = await fetch(`${this.baseUrl}/api/v1/blobs`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${this.token}`,
        "Tus-Resumable": "1.0.0",
        "Upload-Length": String(size),
        "Upload-Metadata": `sha256 ${Buffer.from(sha256).toString("base64")}`,
      },
    });
    const exists = res.status === 200 && res.headers.get("fieldbook-blob-exists") === "true";
    if (!exists && res.headers.get("location")) {
      // We opened an upload we do not mean to finish: end it.
      const location = new URL(res.headers.get("location"), this.baseUrl);
      await fetch(location, { method: "DELETE", headers: { authorization: `Bearer ${this.token}`, "Tus-Resumable": "1.0.0" } });
    }
    return exists;
  }
}
