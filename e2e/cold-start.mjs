// Cold start of the real app to a rendered schedule of 5,000 jobs, against a
// bare Tauri window started the same way (tauri-driver + WebKitWebDriver under
// Xvfb). Run by `make bench-app` (scripts/measure-cold-start.sh).
//
// 1. A server is seeded with N installations for one team; the app signs in
//    as one of its technicians and syncs them all (the device store is then
//    "pre-synced"); the app is closed with its window's close button, as a
//    technician quits, and the server is stopped.
// 2. Each run starts a fresh tauri-driver and session (which launches the
//    app with the cached session, offline) and polls until the first
//    schedule row is in the DOM. The same for the bare window until its page
//    has loaded.
// 3. Times are taken from the app process's start (read from /proc, 10 ms
//    ticks) and, as a cross-check, from the WebDriver session request.
import assert from "node:assert/strict";
import { readFileSync, readdirSync, readlinkSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { AppUnderTest } from "./lib/app.mjs";
import { appBinary, requireFile, targetDir } from "./lib/env.mjs";
import { waitFor } from "./lib/processes.mjs";
import { DemoServer } from "./lib/server.mjs";
import { Person } from "./lib/ui.mjs";

const { values: opts } = parseArgs({
  options: {
    jobs: { type: "string", default: "5000" },
    runs: { type: "string", default: "5" },
    bare: { type: "string", default: join(targetDir, "debug", "fieldbook-bare-window") },
    // Another build of the app (e.g. main's) measured in the same runs, for
    // a before/after under the same machine load.
    compare: { type: "string" },
  },
});
const jobs = Number(opts.jobs);
// A wedged driver must not hang `make bench-app` forever.
setTimeout(() => {
  console.error("cold-start measurement: gave up after 20 minutes");
  process.exit(1);
}, 20 * 60_000).unref();
const runs = Number(opts.runs);
requireFile(opts.bare, "build it with `cargo build --manifest-path e2e/bare-window/Cargo.toml`");

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** Wall-clock start (ms since the epoch) of the newest process running `binary`. */
function newestProcessStart(binary) {
  // Boot time from /proc/uptime read now (btime in /proc/stat is whole seconds).
  const uptimeMs = Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]) * 1000;
  const bootTimeMs = Date.now() - uptimeMs;
  let newest = null;
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      if (readlinkSync(`/proc/${pid}/exe`) !== binary) continue;
      // Field 22 (starttime) counted after the ")" that ends the command name.
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const startMs = bootTimeMs + (Number(fields[19]) * 1000) / CLOCK_TICKS_PER_SECOND;
      if (newest === null || startMs > newest) newest = startMs;
    } catch {
      // The process ended or is not ours to read.
    }
  }
  return newest;
}

const median = (xs) => {
  const s = xs.toSorted((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** One cold start: launch, poll until `rendered()` is true in the page. */
async function coldStart(label, binary, env, rendered, workDir, check) {
  const app = new AppUnderTest({ env, logFile: join(workDir, `${label}.log`), application: binary });
  const browser = await app.launch();
  const requestedAt = app.sessionRequestedAt; // of the attempt that worked
  try {
    const renderedAt = await waitFor(`${label} to render`, async () => ((await browser.execute(rendered)) ? Date.now() : null), {
      timeoutMs: 120_000,
      intervalMs: 10,
    });
    const processStart = newestProcessStart(binary);
    assert.ok(processStart, `found the ${label} process in /proc`);
    // Where the time went: the native start (process to the page's
    // navigation), the page's own load (to DOMContentLoaded), and the rest
    // (for the app: its commands, the store's query and the first render).
    const page = await browser.execute(() => ({
      navigation: performance.timeOrigin,
      loaded: performance.timeOrigin + (performance.getEntriesByType("navigation")[0]?.domContentLoadedEventEnd ?? 0),
      // The app's own marks (ui/src: started, schedule-query, schedule-loaded).
      marks: performance
        .getEntriesByType("mark")
        .filter((m) => m.name.startsWith("fieldbook:"))
        .map((m) => [m.name.slice("fieldbook:".length), performance.timeOrigin + m.startTime]),
    }));
    const split = {
      native: Math.round(page.navigation - processStart),
      page: Math.round(page.loaded - page.navigation),
      rest: Math.round(renderedAt - page.loaded),
      marks: page.marks.map(([name, at]) => `${name} +${Math.round(at - page.loaded)}`).join(", "),
    };
    if (check) await check(browser);
    return { fromProcessStart: renderedAt - processStart, fromSessionRequest: renderedAt - requestedAt, split };
  } finally {
    await app.quit();
  }
}

const workDir = mkdtempSync(join(tmpdir(), "fieldbook-cold-start-"));
const server = new DemoServer(workDir);
const deviceEnv = { FIELDBOOK_DATA_DIR: join(workDir, "device"), FIELDBOOK_SERVER_URL: "" };
/** How many jobs the pre-synced device holds, as the schedule writes it ("4,812"). */
let kept = null;
try {
  console.log(`seeding ${jobs} installations for one team`);
  await server.seed({ installations: jobs, teams: 1 });
  await server.start();
  deviceEnv.FIELDBOOK_SERVER_URL = server.url;

  console.log("pre-syncing the device store (sign in as alex, first sync)");
  {
    const app = new AppUnderTest({ env: deviceEnv, logFile: join(workDir, "presync.log") });
    const browser = await app.launch();
    try {
      const person = new Person(browser);
      await person.waitVisible("signin-username", 60_000);
      await person.type("signin-username", "alex");
      await person.type("signin-password", "alex-demo-password");
      const signInAt = Date.now();
      await person.tap("signin-submit");
      await waitFor(
        "the first sync to finish",
        async () => {
          const el = person.$("sync-indicator");
          return (
            (await el.isExisting()) &&
            (await el.getAttribute("data-connection")) === "online" &&
            (await el.getAttribute("data-phase")) === "idle" &&
            (await el.getAttribute("data-pending")) === "0" &&
            (await person.$$("schedule-row")).length > 0
          );
        },
        { timeoutMs: 300_000, intervalMs: 250 },
      );
      console.log(`  sign-in + first sync of ${jobs} jobs: ${Date.now() - signInAt} ms`);
      // Closed and cancelled jobs past the server's retention window are
      // not sent: the schedule counts what the device holds.
      kept = await browser.execute(() => /([\d,]+) installations?/.exec(document.body.innerText)?.[1] ?? null);
      assert.ok(kept, "the schedule shows how many jobs it holds");
      console.log(`  the device holds ${kept} of the ${jobs} jobs (retention)`);
      // Quit as a technician does (the window's close button): the app then
      // leaves its database whole in its file, as on a laptop.
      await app.closeWindow();
    } finally {
      await app.quit();
    }
  }
  // The measured starts are offline: only the local store feeds the schedule.
  await server.stop();

  const results = { app: [], bare: [], compare: [] };
  const scheduleRendered = () => document.querySelector('[data-testid="schedule-row"]') !== null;
  // What was measured really is the whole team's schedule.
  const showsAllJobs = (browser) =>
    waitFor(`the schedule to count ${kept} installations`, () =>
      browser.execute((label) => document.body.innerText.includes(label), `${kept} installations`),
    );
  const bareRendered = () => document.readyState === "complete" && document.body?.dataset.bare === "ready";
  for (let i = 0; i < runs; i++) {
    // Alternate so that machine load drifts hit both alike.
    results.bare.push(await coldStart("bare", opts.bare, {}, bareRendered, workDir));
    results.app.push(await coldStart("app", appBinary, deviceEnv, scheduleRendered, workDir, showsAllJobs));
    if (opts.compare) {
      results.compare.push(await coldStart("compare", opts.compare, deviceEnv, scheduleRendered, workDir, showsAllJobs));
    }
    console.log(
      `  run ${i + 1}: app ${results.app[i].fromProcessStart} ms, bare ${results.bare[i].fromProcessStart} ms ` +
        `(from session request: ${results.app[i].fromSessionRequest} / ${results.bare[i].fromSessionRequest} ms)` +
        (opts.compare ? `, compared build ${results.compare[i].fromProcessStart} ms` : ""),
    );
    const describe = ({ native, page, rest, marks }) =>
      `native start ${native} ms, page load ${page} ms, then ${rest} ms${marks ? ` (${marks} ms)` : ""}`;
    console.log(`    app: ${describe(results.app[i].split)}; bare: ${describe(results.bare[i].split)}`);
    if (opts.compare) console.log(`    compared build: ${describe(results.compare[i].split)}`);
  }
  const app = median(results.app.map((r) => r.fromProcessStart));
  const bare = median(results.bare.map((r) => r.fromProcessStart));
  const appBest = Math.min(...results.app.map((r) => r.fromProcessStart));
  const bareBest = Math.min(...results.bare.map((r) => r.fromProcessStart));
  const appReq = median(results.app.map((r) => r.fromSessionRequest));
  const bareReq = median(results.bare.map((r) => r.fromSessionRequest));
  console.log(`\ncold start, median of ${runs} (from process start):`);
  console.log(`  app to a rendered schedule of ${jobs} jobs: ${app} ms`);
  console.log(`  bare Tauri window to a loaded page:        ${bare} ms`);
  console.log(`  ratio: ${(app / bare).toFixed(2)}`);
  console.log(`best of ${runs}: app ${appBest} ms vs bare ${bareBest} ms, ratio ${(appBest / bareBest).toFixed(2)}`);
  console.log(`from the WebDriver session request: ${appReq} ms vs ${bareReq} ms, ratio ${(appReq / bareReq).toFixed(2)}`);
  if (opts.compare) {
    const other = median(results.compare.map((r) => r.fromProcessStart));
    const otherBest = Math.min(...results.compare.map((r) => r.fromProcessStart));
    console.log(
      `compared build (${opts.compare}): median ${other} ms, ratio ${(other / bare).toFixed(2)}; ` +
        `best ${otherBest} ms, ratio ${(otherBest / bareBest).toFixed(2)}`,
    );
  }
  rmSync(workDir, { recursive: true, force: true });
} catch (err) {
  console.error(`failed; logs kept in ${workDir}`);
  throw err;
} finally {
  await server.stop();
}
