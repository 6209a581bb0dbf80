// Screenshots of every screen of the browser preview (`npm run build:mock`,
// in-memory backend), for looking at the UI without the Tauri shell.
// Usage: node scripts/preview-screenshots.mjs [out-dir] [base-url]
// Needs `npx vite preview --outDir dist-mock --port 4173` running. Uses
// Debian's Chromium; never downloads a browser.
import { chromium } from "playwright";
import { mkdirSync } from "node:fs";

const out = process.argv[2] ?? "/tmp/fieldbook-shots";
const base = process.argv[3] ?? "http://localhost:4173/";
mkdirSync(out, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run"],
});

async function shot(name, url, act, size = { width: 1366, height: 768 }, fullPage = false) {
  const page = await browser.newPage({ viewport: size });
  page.on("pageerror", (e) => console.error(`${name}: page error: ${e.message}`));
  await page.goto(base + url);
  await page.waitForTimeout(400);
  if (act) await act(page);
  await page.waitForTimeout(300);
  await page.screenshot({ path: `${out}/${name}.png`, fullPage });
  await page.close();
  console.log(`${out}/${name}.png`);
}


await shot("01-sign-in", "?signedOut=1#/schedule");
await shot("01b-sign-in-error", "?signedOut=1#/schedule", async (p) => {
  await p.getByTestId("signin-username").fill("alex");
  await p.getByTestId("signin-password").fill("wrong");
  await p.getByTestId("signin-submit").click();
});
await shot("02-schedule", "#/schedule");
await shot("02b-schedule-10000", "?jobs=10000#/schedule", async (p) => p.mouse.wheel(0, 3000), { width: 1920, height: 1080 });
await shot("02c-schedule-high-contrast", "#/settings", async (p) => {
  await p.getByTestId("high-contrast").check();
  await p.getByTestId("nav-schedule").click();
});
await shot("03-installation-confirmed", "#/schedule", async (p) => {
  await p.locator("[data-testid=schedule-row][data-status=confirmed]").first().click();
});
await shot("03b-start-anyway", "#/schedule", async (p) => {
  await p.locator("[data-testid=schedule-row][data-status=material_ready]").first().click();
  await p.getByTestId("action-start").click();
});
await shot("04-report", "#/schedule", async (p) => {
  await p.locator("[data-testid=schedule-row][data-status=in_progress]").first().click();
  await p.getByTestId("open-report").click();
  await p.getByTestId("report-serial").fill("WB-2026-0042");
  await p.getByTestId("report-successful-yes").click();
  await p.getByTestId("media-add").click();
  await p.waitForTimeout(400);
  await p.getByTestId("report-notes").fill("Mounted left of the garage door.");
}, undefined, true);
await shot("04b-signature", "#/schedule", async (p) => {
  await p.locator("[data-testid=schedule-row][data-status=in_progress]").first().click();
  await p.getByTestId("open-report").click();
  await p.getByTestId("open-signature").click();
  const box = await p.getByTestId("signature-canvas").boundingBox();
  await p.mouse.move(box.x + 200, box.y + 300);
  await p.mouse.down();
  for (let i = 0; i < 40; i++) await p.mouse.move(box.x + 200 + i * 12, box.y + 300 + Math.sin(i / 3) * 60);
  await p.mouse.up();
});
await shot("05-sync", "?pending=1#/sync");
await shot("06-settings", "?pending=1#/settings", async (p) => p.getByTestId("sign-out").click());
await browser.close();

