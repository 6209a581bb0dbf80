// First sign-in to the coming days' jobs on screen, with a large team on the
// server (tauri-driver + WebKitWebDriver under Xvfb, like cold-start.mjs).
// Run by `make bench-first-sign-in` (scripts/measure-first-sign-in.sh).
//
// For each team size a server is seeded with N installations for one team.
// Each run signs in on a fresh device data dir and times, from the tap on
// "Sign in":
// - usable: the schedule shows rows of today or a coming day (the near
//   window of the first sync; the goal is <= 2 s);
// - complete: the first sync ended and the schedule counts all N jobs.
// Also prints, once all N are on the device, how many elements and schedule
// rows the DOM holds and the WebKit web process's resident memory, and
// takes a 1366x768 screenshot of the schedule.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { AppUnderTest } from "./lib/app.mjs";
import { waitFor } from "./lib/processes.mjs";
import { DemoServer } from "./lib/server.mjs";
import { Person } from "./lib/ui.mjs";

const { values: opts } = parseArgs({
  options: {
    jobs: { type: "string", default: "5000,10000" },
    runs: { type: "string", default: "5" },
    screenshots: { type: "string", default: "" },
  },
});
const teamSizes = opts.jobs.split(",").map(Number);
const runs = Number(opts.runs);
setTimeout(() => {
  console.error("first sign-in measurement: gave up after 30 minutes");
  process.exit(1);
}, 30 * 60_000).unref();

const median = (xs) => {
  const s = xs.toSorted((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Resident memory (KiB) of the newest WebKitWebProcess, the page's process. */
function webProcessRssKib() {
  let newest = null;
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      if (!readlinkSync(`/proc/${pid}/exe`).endsWith("/WebKitWebProcess")) continue;
      const start = Number(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ")[19]);
      const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))[1]);
      if (!newest || start > newest.start) newest = { start, rss };
    } catch {
      // ended, or not ours
    }
  }
  return newest?.rss ?? null;
}

// In the page: rows of today or later are on screen (the list starts with them).
const comingDaysShown = () => {
  const heading = document.querySelector('[data-testid="day-heading"]');
  const row = document.querySelector('[data-testid="schedule-row"]');
  return (
    heading !== null &&
    row !== null &&
    (heading.classList.contains("section-today") || heading.classList.contains("section-upcoming"))
  );
};

const workRoot = mkdtempSync(join(tmpdir(), "fieldbook-first-sign-in-"));
const summary = [];
try {
  for (const jobs of teamSizes) {
    const workDir = join(workRoot, String(jobs));
    const server = new DemoServer(workDir);
    try {
      console.log(`seeding ${jobs} installations for one team`);
      await server.seed({ installations: jobs, teams: 1 });
      await server.start();
      const usable = [];
      const complete = [];
      for (let run = 0; run < runs; run++) {
        const env = { FIELDBOOK_DATA_DIR: join(workDir, `device-${run}`), FIELDBOOK_SERVER_URL: server.url };
        const app = new AppUnderTest({ env, logFile: join(workDir, `app-${run}.log`) });
        const browser = await app.launch();
        try {
          const person = new Person(browser);
          await person.waitVisible("signin-username", 60_000);
          await person.type("signin-username", "alex");
          await person.type("signin-password", "alex-demo-password");
          const tappedAt = Date.now();
          await person.tap("signin-submit");
          const usableAt = await waitFor("rows of today or a coming day", async () => ((await browser.execute(comingDaysShown)) ? Date.now() : null), {
            timeoutMs: 120_000,
            intervalMs: 20,
          });
          console.log(`  run ${run + 1}: coming days on screen ${usableAt - tappedAt} ms`);
          // Done: the first sync ended (no progress line, phase idle) and the
          // schedule counts what arrived (closed and cancelled jobs past the
          // server's retention window are not sent, so fewer than N).
          let seen = {};
          const completeAt = await waitFor(
            "the first sync to end",
            async () => {
              const el = person.$("sync-indicator");
              const phase = (await el.isExisting()) ? await el.getAttribute("data-phase") : null;
              const progress = await browser.execute(() => document.querySelector('[data-testid="first-sync-progress"]') !== null);
              // The schedule's count of what the device holds (the virtual
              // list loads rows only as they are scrolled to).
              const count = await browser.execute(() => /([\d,]+) installations?/.exec(document.body.innerText)?.[1] ?? null);
              seen = { phase, progress, count };
              return phase === "idle" && !progress && count !== null ? Date.now() : null;
            },
            { timeoutMs: 300_000, intervalMs: 100 },
          ).catch((e) => {
            throw new Error(`${e.message}; last seen: sync phase ${seen.phase}, progress line shown ${seen.progress}, schedule count ${seen.count}`);
          });
          const counted = await browser.execute(() => /([\d,]+) installations?/.exec(document.body.innerText)?.[1] ?? "?");
          usable.push(usableAt - tappedAt);
          complete.push(completeAt - tappedAt);
          console.log(`  run ${run + 1}: first sync complete ${complete.at(-1)} ms (${counted} of ${jobs} jobs kept after retention)`);
          if (run === 0) {
            const dom = await browser.execute(() => ({
              elements: document.getElementsByTagName("*").length,
              rows: document.querySelectorAll('[data-testid="schedule-row"]').length,
            }));
            const rss = webProcessRssKib();
            assert.ok(dom.rows < 60, `about a screenful of rows in the DOM, not ${dom.rows}`);
            console.log(
              `  with all ${jobs} jobs on the device: ${dom.elements} elements and ${dom.rows} schedule rows in the DOM; ` +
                `WebKit web process RSS ${rss == null ? "unknown" : `${(rss / 1024).toFixed(0)} MiB`}`,
            );
            if (opts.screenshots) await person.screenshot(`schedule-${jobs}-jobs`, opts.screenshots);
          }
        } finally {
          await app.quit();
        }
      }
      summary.push({ jobs, usable, complete });
    } finally {
      await server.stop();
    }
  }
  console.log("\nfirst sign-in (best / median of " + runs + "):");
  for (const { jobs, usable, complete } of summary) {
    console.log(
      `  ${jobs} jobs: coming days on screen ${Math.min(...usable)} / ${median(usable)} ms (goal <= 2000 ms); ` +
        `whole first sync ${Math.min(...complete)} / ${median(complete)} ms`,
    );
  }
  rmSync(workRoot, { recursive: true, force: true });
} catch (err) {
  console.error(`failed; logs kept in ${workRoot}`);
  throw err;
}
