// The technician's golden path through the real app (Tauri + WebKitGTK under
// Xvfb, driven by tauri-driver), against a real fieldbook-server that goes
// away while the technician works on site and comes back afterwards:
//
//   sign in → schedule shows the demo jobs → server stopped → open a job,
//   start it, finish it → fill the report → 5 photos, one of them the
//   charger's serial label: its QR code is read in the background and the
//   serial and model are confirmed with one tap (nothing typed) → the
//   commissioning tests (one unusual reading confirmed) → the photo checklist
//   (4 photos, one slot with a reason) → customer signature → submit → the
//   certificate is made offline and shown full screen → server started again
//   → header shows synced → the server has the report with its template
//   version and test results, the 5 photos (same SHA-256 as the files), the
//   signature, and the certificate PDF (same SHA-256 as on the laptop).
//
// Then a small sync-panel check: a job started offline that ops cancelled
// meanwhile comes back as "needs attention" with the server's reason.
//
// Every screen is photographed at 1366x768 into docs/screenshots/.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createHash } from "node:crypto";
import { promisify } from "node:util";
import { AppUnderTest } from "../lib/app.mjs";
import { e2eDir, serverBinary } from "../lib/env.mjs";
import { makePhotos, sha256File } from "../lib/fixtures.mjs";
import { ApiClient, DemoServer } from "../lib/server.mjs";
import { Person, byTestId } from "../lib/ui.mjs";
import { waitFor } from "../lib/processes.mjs";

const run = promisify(execFile);

const TECHNICIAN = { username: "alex", password: "alex-demo-password", fullName: null };
/** The commissioning tests as the technician enters them: [field, kind, value]. */
const TESTS = [
  ["earthing_arrangement", "option", "tn-c-s"],
  ["pen_fault_protection", "option", "yes"],
  ["pen_fault_method", "option", "charger-open-pen"],
  ["ze", "input", "0.21"],
  ["zs", "input", "1.52"], // above the usual 1.37 Ω: asks for a confirmation
  ["r1_r2", "input", "0.27"],
  ["insulation_resistance", "input", "999"],
  ["insulation_test_voltage", "option", "500"],
  ["polarity_confirmed", "option", "yes"],
  ["rcd_type", "option", "a-rdc-dd"],
  ["rcd_trip_time", "input", "23.5"],
  ["maximum_demand", "input", "63"],
  ["load_management_fitted", "option", "no"],
  ["dno_notification_required", "option", "no"],
];
/** Photo slots filled with the photos in this order; the cable route gets a reason. */
const PHOTO_SLOTS = ["charger-wide", "serial-label", "consumer-unit", "earthing"];
const NO_PHOTO = { slot: "cable-route", reason: "Cable runs inside the wall cavity" };
const PHOTOS = 5;
/**
 * The charger's rating label: a QR code carrying REPORT's serial and model
 * (made by the Rust test kit; crates/store/tests/actions.rs checks it reads).
 */
const LABEL_PHOTO = join(e2eDir, "fixtures", "serial-label.jpg");

const REPORT = {
  serial: "WB-2026-004711",
  model: "Wallbox Pulsar Plus 11 kW",
  issues: "Cable run 2 m longer than surveyed; extra conduit fitted.",
  notes: "Customer shown the app pairing and the RFID card.",
};

describe("golden path", { timeout: 15 * 60_000 }, () => {
  const workDir = mkdtempSync(join(tmpdir(), "fieldbook-e2e-"));
  const server = new DemoServer(workDir);
  let app;
  /** @type {Person} */
  let person;
  /** @type {WebdriverIO.Browser} */
  let browser;
  let job; // the installation the technician works on (server record)
  let photos;
  let signerName;
  const slotPhotos = {}; // slot key → SHA-256 of the photo chosen for it
  let attachedAt = null; // when the photos were handed to the app
  let certificateSha256 = null; // the certificate PDF as made on the laptop
  let failed = false;
  const handedToSystem = join(workDir, "handed-to-system.txt");

  // Steps share one app session: once a step fails the rest cannot succeed,
  // so they are skipped instead of piling up follow-on failures.
  const step = (name, fn) =>
    it(name, async (t) => {
      if (failed) return t.skip("an earlier step failed");
      try {
        await fn(t);
      } catch (err) {
        failed = true;
        await person?.screenshot(`failure-${name.replace(/\W+/g, "-")}`, workDir).catch(() => {});
        throw err;
      }
    });

  before(async () => {
    await server.seed();
    await server.start();
    // Four site photos and the serial label (second: it fills the label slot).
    const site = await makePhotos(workDir, PHOTOS - 1);
    const label = join(workDir, "serial-label.jpg");
    copyFileSync(LABEL_PHOTO, label);
    photos = [site[0], { path: label, sha256: sha256File(label) }, ...site.slice(1)];
    // The system's URL opener, as the app finds it on PATH: it records what
    // it was handed instead of starting a softphone or a browser.
    const binDir = join(workDir, "bin");
    mkdirSync(binDir);
    writeFileSync(join(binDir, "xdg-open"), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${handedToSystem}'\n`, { mode: 0o755 });
    app = new AppUnderTest({
      logFile: join(workDir, "app.log"),
      env: {
        PATH: `${binDir}:${process.env.PATH}`,
        FIELDBOOK_DATA_DIR: join(workDir, "device"),
        FIELDBOOK_SERVER_URL: server.url,
        FIELDBOOK_TEST_HOOKS: "1",
        RUST_LOG: "info",
      },
    });
    browser = await app.launch();
    person = new Person(browser);
    // No window manager under Xvfb: make the window fill the 1366x768 screen.
    await browser.setWindowRect(0, 0, 1366, 768).catch(() => {});
  });

  after(async () => {
    await app?.quit();
    await server.stop();
    if (failed) console.log(`kept ${workDir} (server.log, app.log) for inspection`);
    else rmSync(workDir, { recursive: true, force: true });
  });

  const indicator = () => person.$("sync-indicator");
  const appLogIncludes = (text) => {
    const logs = join(workDir, "device", "logs");
    return readdirSync(logs).some((name) => readFileSync(join(logs, name), "utf8").includes(text));
  };
  const syncState = async () => ({
    connection: await indicator().getAttribute("data-connection"),
    phase: await indicator().getAttribute("data-phase"),
    pending: await indicator().getAttribute("data-pending"),
  });
  const waitSynced = (timeoutMs) =>
    waitFor(
      "the header to show synced (online, nothing pending)",
      async () => {
        const s = await syncState();
        return s.connection === "online" && s.pending === "0" && s.phase === "idle";
      },
      { timeoutMs, intervalMs: 250 },
    );

  step("sign in as a demo technician", async () => {
    const serverField = await person.waitVisible("signin-server", 60_000);
    assert.equal(await serverField.getValue(), server.url, "the server URL comes pre-filled from FIELDBOOK_SERVER_URL");
    await person.screenshot("01-sign-in");
    await person.type("signin-username", TECHNICIAN.username);
    await person.type("signin-password", TECHNICIAN.password);
    await person.tap("signin-submit");
    await person.waitVisible("schedule-screen", 30_000);
  });

  step("the schedule shows the team's demo jobs", async () => {
    const api = await ApiClient.login(server.url, TECHNICIAN.username, TECHNICIAN.password);
    const { installations } = await api.pullAll();
    const teamJobs = new Map(installations.map((v) => [v.record.id, v.record]));
    assert.ok(teamJobs.size > 0, "the demo seed gives alex's team jobs");

    await waitSynced(60_000);
    const rows = await waitFor("schedule rows", async () => {
      const found = await person.$$("schedule-row");
      return found.length > 0 ? found : null;
    });
    const shownIds = await attributes(rows, "data-installation-id");
    for (const id of shownIds) assert.ok(teamJobs.has(id), `row ${id} is one of the team's jobs`);
    assert.ok(shownIds.length >= Math.min(teamJobs.size, 5), `${shownIds.length} rows shown of ${teamJobs.size} jobs`);
    assert.ok((await person.$$("day-heading")).length > 0, "rows are grouped by day");

    // The job to work on: a confirmed one (startable without an override), the soonest.
    job = installations
      .map((v) => v.record)
      .filter((i) => i.status === "confirmed")
      .sort((a, b) => a.scheduled_date.localeCompare(b.scheduled_date))[0];
    assert.ok(job, "the demo seed gives alex's team a confirmed job");
    await person.screenshot("02-schedule");
  });

  step("the server goes away; the technician opens the job and starts it", async () => {
    await server.stop();

    let row = browser.$(`${byTestId("schedule-row")}[data-installation-id="${job.id}"]`);
    if (!(await row.isDisplayed().catch(() => false))) {
      // Not on screen (the list is virtualised): search for it as a person would.
      await person.type("schedule-search", job.installation_id);
      row = browser.$(`${byTestId("schedule-row")}[data-installation-id="${job.id}"]`);
    }
    await person.tap(row, `schedule row ${job.installation_id}`);
    const status = await person.waitVisible("installation-screen");
    assert.ok(status);
    assert.equal(await person.$("installation-status").getAttribute("data-status"), "confirmed");
    await person.screenshot("03-installation");

    // The window has no address bar and no back button: a tap on the
    // customer's number or e-mail goes to the system (a softphone, the mail
    // app, if any) and a page elsewhere is refused; the technician stays on
    // the job either way.
    const onTheJob = await browser.getUrl();
    // Clicked directly: a detour, not one of the job's counted taps.
    await person.$("customer-phone").click();
    const tel = `tel:${(await person.$("customer-phone").getText()).replace(/[^\d+]/g, "")}`;
    await waitFor("the number handed to the system", () => existsSync(handedToSystem) && readFileSync(handedToSystem, "utf8").trim() === tel);
    await person.$("customer-email").click();
    const mailto = `mailto:${await person.$("customer-email").getText()}`;
    await waitFor("the address handed to the system", () => readFileSync(handedToSystem, "utf8").trim().split("\n").at(-1) === mailto);
    await browser.execute(() => {
      window.location.href = "https://example.com/";
    });
    await waitFor("the refusal in the app's log", () => appLogIncludes("navigation away from the app refused"));
    assert.equal(await browser.getUrl(), onTheJob);
    await person.waitVisible("installation-screen");

    await person.tap("action-start");
    await waitFor("the job to be in progress", async () => (await person.$("installation-status").getAttribute("data-status")) === "in_progress");
    // The start is queued locally; the push fails and the header says so.
    await waitFor("the header to show offline with pending work", async () => {
      const s = await syncState();
      return s.connection === "offline" && Number(s.pending) >= 1;
    }, { timeoutMs: 60_000, intervalMs: 250 });

    // The work on site is done: finishing is what lets the report be submitted.
    await person.tap("action-finish");
    await waitFor("the job to be completed", async () => (await person.$("installation-status").getAttribute("data-status")) === "completed");
  });

  step("fill in the report offline", async () => {
    await person.tap("open-report");
    await person.waitVisible("report-screen");
    // Serial and model are not typed: they come from the label photo below.
    await person.tap("report-successful-yes");
    await person.tap("report-demo-given");
    await person.type("report-issues", REPORT.issues);
    await person.type("report-notes", REPORT.notes);
    await waitFor("the autosave to finish", async () => (await person.$("autosave-state").getText()).trim() === "Saved");
  });

  step(`add ${PHOTOS} photos (file dialog bypassed by the test hook)`, async () => {
    await waitFor("the test hook", () => browser.execute(() => typeof window.__fieldbookTest?.attachFiles === "function"));
    // The dialog's result goes down the same path as a real pick: one tap on
    // "Add photos", then attach_media with the chosen paths.
    person.taps += 1;
    person.steps.push(`tap media-add (dialog: pick ${PHOTOS} photos)`);
    attachedAt = Date.now();
    const error = await browser.executeAsync((paths, done) => {
      window.__fieldbookTest.attachFiles(paths).then(
        () => done(null),
        (e) => done(String(e?.message ?? JSON.stringify(e))),
      );
    }, photos.map((p) => p.path));
    assert.equal(error, null, "attachFiles resolved");
    const items = await waitFor(`${PHOTOS} media items`, async () => {
      const found = await person.$$("media-item");
      return found.length === PHOTOS ? found : null;
    });
    const shown = await attributes(items, "data-sha256");
    assert.deepEqual(shown.toSorted(), photos.map((p) => p.sha256).toSorted(), "thumbnails are the files' hashes");
    // Thumbnails actually load over the media:// scheme.
    await waitFor("thumbnails to decode", () =>
      browser.execute((n) => {
        const imgs = [...document.querySelectorAll('[data-testid="media-item"] img')];
        return imgs.length === n && imgs.every((img) => img.complete && img.naturalWidth > 0);
      }, PHOTOS),
    );
    await browser.execute((sel) => document.querySelector(sel).scrollIntoView({ block: "center" }), byTestId("media-item"));
    await person.screenshot("04-report");
  });

  step("the serial label is read in the background; one tap confirms serial and model", async () => {
    // Offered, never filled by itself: the fields stay empty until the tap.
    const offer = await person.waitVisible("label-offer", 120_000);
    const started = attachedAt ?? Date.now();
    console.log(`label read: the offer appeared ${Date.now() - started} ms after the photos were attached`);
    assert.equal(await person.$("label-offer-serial").getText(), REPORT.serial);
    assert.equal(await person.$("label-offer-model").getText(), REPORT.model);
    assert.equal(await person.$("report-serial").getValue(), "");
    await offer.scrollIntoView({ block: "center" });
    await person.screenshot("04a-label-offer");
    await person.tap("label-offer-use");
    await waitFor("the serial to be filled", async () => (await person.$("report-serial").getValue()) === REPORT.serial);
    assert.equal(await person.$("report-model").getValue(), REPORT.model);
    await waitFor("the autosave to finish", async () => (await person.$("autosave-state").getText()).trim() === "Saved");
  });

  step("enter the commissioning tests, confirming the unusual reading", async () => {
    const scrollTo = (testId) =>
      browser.execute((sel) => document.querySelector(sel)?.scrollIntoView({ block: "center" }), byTestId(testId));
    for (const [field, kind, value] of TESTS) {
      // Conditional fields appear once the backend's check of the last
      // autosave says they apply.
      await person.waitVisible(`test-${field}`);
      await scrollTo(`test-${field}`);
      if (kind === "option") await person.tap(`test-option-${field}-${value}`);
      else await person.type(`test-input-${field}`, value);
    }
    await scrollTo("test-zs");
    await person.waitVisible("test-confirm-zs");
    await person.screenshot("04b-report-tests-confirm");
    await person.tap("test-confirm-zs");
    await person.waitVisible("test-confirmed-zs");
    await waitFor("the autosave to finish", async () => (await person.$("autosave-state").getText()).trim() === "Saved");
    // The form asks nothing more of the tests.
    const missing = await person.$$("missing-list");
    for (const list of missing) {
      if (await list.isDisplayed()) assert.doesNotMatch(await list.getText(), /Earth fault loop|Earthing arrangement|RCD/);
    }
    await scrollTo("commissioning-tests");
    await person.screenshot("04c-report-tests");
  });

  step("fill the photo checklist: 4 photos and a reason", async () => {
    const thumbs = await person.$$("media-item");
    const order = await attributes(thumbs, "data-sha256");
    for (const [i, slot] of PHOTO_SLOTS.entries()) {
      await browser.execute((sel) => document.querySelector(sel)?.scrollIntoView({ block: "center" }), byTestId(`slot-${slot}`));
      await person.tap(`slot-choose-${slot}`);
      const picks = await waitFor("the photo picker", async () => {
        const found = await person.$$("slot-pick");
        return found.length === PHOTOS ? found : null;
      });
      await person.tap(picks[i], `photo ${i + 1} for ${slot}`);
      await waitFor(`${slot} to be done`, async () => (await person.$(`slot-${slot}`).getAttribute("data-state")) === "done");
      slotPhotos[slot] = order[i];
    }
    await person.tap(`slot-none-${NO_PHOTO.slot}`);
    await person.type(`slot-reason-${NO_PHOTO.slot}`, NO_PHOTO.reason);
    await waitFor("the checklist to be complete", async () => (await person.$("checklist-count").getText()).startsWith("5 of 5"));
    await waitFor("the autosave to finish", async () => (await person.$("autosave-state").getText()).trim() === "Saved");
    await waitFor("checklist thumbnails to decode", () =>
      browser.execute(() => {
        const imgs = [...document.querySelectorAll('[data-testid="photo-checklist"] .thumb img')];
        return imgs.length === 4 && imgs.every((img) => img.complete && img.naturalWidth > 0);
      }),
    );
    await browser.execute((sel) => document.querySelector(sel).scrollIntoView({ block: "start" }), byTestId("photo-checklist"));
    await person.screenshot("04d-photo-checklist");
  });

  step("the customer signs on the pad", async () => {
    await person.tap("open-signature");
    await person.waitVisible("signature-pad");
    const canvas = await person.waitVisible("signature-canvas");
    await person.screenshot("05-signature-pad-empty");
    await drawSignature(browser, canvas, person);
    // The signer's name comes pre-filled with the customer's.
    signerName = (await person.$("signature-name").getValue()).trim();
    assert.ok(signerName.length > 0, "the signer's name is pre-filled");
    await person.screenshot("06-signature-pad-signed");
    await person.tap("signature-save");
    await person.$("signature-pad").waitForDisplayed({ reverse: true, timeout: 20_000 });
    await person.waitVisible("signature-summary");
  });

  step("submit the report", async () => {
    await person.tap("report-submit");
    await person.waitVisible("submit-confirm");
    const missing = await person.$$("missing-list");
    for (const list of missing) {
      if (await list.isDisplayed()) assert.equal((await list.getText()).trim(), "", "nothing is missing before submit");
    }
    await person.screenshot("07-submit-summary");
    await person.tap("submit-confirm");
    await person.waitVisible("report-submitted");
    // The certificate is made on the laptop, offline, right after submit.
    const card = await person.waitVisible("certificate-show", 60_000);
    certificateSha256 = await person.$("certificate").getAttribute("data-sha256");
    assert.match(certificateSha256 ?? "", /^[0-9a-f]{64}$/, "the certificate card names its PDF");
    await card.scrollIntoView({ block: "center" });
    await person.screenshot("08-report-submitted");
    const pending = Number((await syncState()).pending);
    assert.ok(pending >= 3 + PHOTOS, `start, finish, report, ${PHOTOS} photos and the signature are waiting (pending ${pending})`);
  });

  step("show the certificate full screen to the customer", async () => {
    await person.tap("certificate-show");
    await person.waitVisible("certificate-view");
    // Pages drawn from the PDF load over the media:// scheme.
    await waitFor("the certificate pages to decode", () =>
      browser.execute(() => {
        const imgs = [...document.querySelectorAll('[data-testid="certificate-page"]')];
        return imgs.length > 0 && imgs.every((img) => img.complete && img.naturalWidth > 1000);
      }),
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    // Fit to width: the page fills most of the 1366 px screen, text readable.
    const shown = await browser.execute(() => document.querySelector('[data-testid="certificate-page"]').getBoundingClientRect().width);
    assert.ok(shown >= 900, `page shown ${shown} px wide`);
    await person.screenshot("08b-certificate-full-screen");
    await person.tap("certificate-fit-page");
    await person.screenshot("08c-certificate-whole-page");
    await person.tap("certificate-close");
    await person.$("certificate-view").waitForDisplayed({ reverse: true, timeout: 10_000 });
  });

  step("the server comes back and everything syncs by itself", async () => {
    await server.start();
    await waitSynced(120_000);
    await person.tap("nav-sync");
    await person.waitVisible("sync-screen");
    await person.waitVisible("last-synced");
    await person.screenshot("09-sync-synced");
  });

  step(`the server has the report with its template version and tests, the ${PHOTOS} photos (hash-equal), the signature and the certificate PDF (hash-equal)`, async () => {
    const api = await ApiClient.login(server.url, "ops", "ops-demo-password");
    const detail = await api.get(`/api/v1/installations/${job.id}`);
    assert.equal(detail.installation.record.status, "report_submitted");
    const { record } = await api.get(`/api/v1/installations/${job.id}/report`);
    const report = record.report;
    assert.equal(report.charger_serial_number, REPORT.serial);
    assert.equal(report.charger_model, REPORT.model);
    assert.equal(report.installation_successful, true);
    assert.equal(report.demo_given, true);
    assert.equal(report.issues_encountered, REPORT.issues);
    assert.equal(report.general_notes, REPORT.notes);
    assert.equal(detail.installation.record.demo_completed, true);

    // Filled against the built-in default template, version 1; the values
    // exactly as typed, the unusual one with its confirmation.
    assert.deepEqual(report.template, { id: "uk-ev-charger", version: 1 });
    for (const [field, , value] of TESTS) assert.equal(report.test_results[field]?.value, value, field);
    assert.equal(report.test_results.zs.confirmed, "1.52");
    for (const [slot, sha256] of Object.entries(slotPhotos)) {
      assert.deepEqual(report.photo_slots[slot], { kind: "photo", sha256 }, slot);
    }
    assert.deepEqual(report.photo_slots[NO_PHOTO.slot], { kind: "no_photo", reason: NO_PHOTO.reason });

    const signature = report.customer_signature;
    assert.ok(signature, "the report is signed");
    assert.equal(signature.signer_name, signerName);
    assert.equal(signature.content_hash, report.content_hash, "the signature is bound to the submitted content");
    assert.ok(signature.strokes.length >= 2 && signature.strokes.every((s) => s.points.length >= 2), "strokes kept as evidence");
    assert.equal(record.signature_blob_available, true, "the signature PNG reached the server");
    assert.equal(sha256File(server.blobPath(signature.png.sha256)), signature.png.sha256, "the signature PNG is intact");

    const { media } = await api.pullAll();
    const jobMedia = media.map((v) => v.record).filter((m) => m.media.installation_id === job.id);
    assert.equal(jobMedia.length, PHOTOS, `${PHOTOS} photos on the server`);
    assert.deepEqual(jobMedia.map((m) => m.media.file.sha256).toSorted(), photos.map((p) => p.sha256).toSorted());
    for (const m of jobMedia) {
      const one = await api.get(`/api/v1/media/${m.media.id}`);
      assert.equal(one.record.blob_available, true, `photo ${m.media.id} has its blob`);
      // The bytes on the server hash to what the file on the laptop hashed to.
      assert.equal(sha256File(server.blobPath(m.media.file.sha256)), m.media.file.sha256);
      assert.ok(await api.blobExists(m.media.file.sha256, m.media.file.size), "the server says it has the blob");
    }

    // The certificate: the server knows which blob it is, and ops download
    // the same bytes the laptop made.
    const ops = await api.get(`/api/v1/ops/installations/${job.id}`);
    const certificate = ops.report.certificate;
    assert.ok(certificate, "the server has the report's certificate");
    assert.equal(certificate.sha256, certificateSha256);
    assert.equal(certificate.report_content_hash, report.content_hash);
    assert.equal(certificate.blob_available, true, "the certificate PDF reached the server");
    const pdf = await api.download(`/api/v1/ops/installations/${job.id}/certificate`);
    assert.equal(pdf.contentType, "application/pdf");
    assert.equal(createHash("sha256").update(pdf.bytes).digest("hex"), certificateSha256, "ops download the PDF made on the laptop");
    assert.equal(sha256File(server.blobPath(certificateSha256)), certificateSha256, "the stored PDF is intact");

    console.log(
      `golden path: ${person.taps} taps/clicks (${person.fieldsTyped} of them into text fields, then typing), ` +
        `${person.strokes} signature strokes\n  ${person.steps.join("\n  ")}`,
    );
  });

  step("a job started offline that ops cancelled meanwhile needs attention", async () => {
    const api = await ApiClient.login(server.url, TECHNICIAN.username, TECHNICIAN.password);
    const other = (await api.pullAll()).installations
      .map((v) => v.record)
      .filter((i) => i.status === "confirmed" && i.id !== job.id)
      .sort((a, b) => a.scheduled_date.localeCompare(b.scheduled_date))[0];
    assert.ok(other, "a second confirmed job");

    await server.stop();
    await person.tap("nav-schedule");
    await person.waitVisible("schedule-screen");
    const search = await person.waitVisible("schedule-search");
    await search.clearValue();
    await search.setValue(other.installation_id);
    await person.tap(browser.$(`${byTestId("schedule-row")}[data-installation-id="${other.id}"]`), "schedule row");
    await person.waitVisible("installation-screen");
    await person.tap("action-start");
    await waitFor("the job to be in progress", async () => (await person.$("installation-status").getAttribute("data-status")) === "in_progress");

    // Central Ops cancels it meanwhile (admin CLI on the stopped server's data).
    await run(serverBinary, [
      "installation", "transition", "--data-dir", server.dataDir,
      "--installation", other.installation_id, "--to", "cancelled", "--reason", "Customer withdrew the order",
    ]);
    await server.start();

    await person.tap("nav-sync");
    await person.waitVisible("sync-screen");
    const item = await waitFor("a needs-attention item", async () => {
      const items = await person.$$("needs-attention-item");
      return items.length > 0 ? items[0] : null;
    }, { timeoutMs: 120_000, intervalMs: 500 });
    assert.ok((await item.getText()).trim().length > 0, "the item says what happened");
    await person.screenshot("10-sync-needs-attention");
  });

  step("settings show the server, the user and the storage used", async () => {
    await person.tap("nav-settings");
    await person.waitVisible("settings-screen");
    assert.match(await person.$("settings-server").getText(), new RegExp(String(server.port)));
    assert.match(await person.$("settings-user").getText(), /alex/i);
    assert.match(await person.$("storage-used").getText(), /\d/);
    await person.screenshot("11-settings");
    // The lower half: updates (this build is not installed from a package,
    // so it says it cannot update itself) and "Save diagnostics…".
    await (await person.waitVisible("save-diagnostics")).scrollIntoView({ block: "end" });
    assert.ok(await person.$("updates").isDisplayed());
    await person.screenshot("12-settings-updates-diagnostics");
  });
});

/** One attribute of each element (WebdriverIO's element arrays map asynchronously). */
async function attributes(elements, name) {
  const values = [];
  for (const el of elements) values.push(await el.getAttribute(name));
  return values;
}

/**
 * Draw a two-stroke signature on the canvas with WebDriver pointer actions
 * (real pointer input through WebKit, as a mouse or pen would give).
 */
async function drawSignature(browser, canvas, person) {
  const { width, height } = await canvas.getSize();
  // Offsets from the canvas centre, in CSS pixels.
  const w = width * 0.35;
  const h = height * 0.25;
  const strokes = [
    // A looping "J"-like first stroke.
    Array.from({ length: 24 }, (_, i) => {
      const t = i / 23;
      return [-w + t * w * 0.8, -h + Math.sin(t * Math.PI * 3) * h * 0.6 + t * h * 1.4];
    }),
    // A long wavy underline.
    Array.from({ length: 30 }, (_, i) => {
      const t = i / 29;
      return [-w * 0.6 + t * w * 1.5, h * 0.7 + Math.sin(t * Math.PI * 4) * h * 0.25];
    }),
  ];
  for (const points of strokes) {
    const action = browser.action("pointer", { parameters: { pointerType: "mouse" } });
    const [x0, y0] = points[0];
    action.move({ origin: canvas, x: Math.round(x0), y: Math.round(y0) }).down({ button: 0 });
    for (const [x, y] of points.slice(1)) {
      action.move({ origin: canvas, x: Math.round(x), y: Math.round(y), duration: 10 });
    }
    action.up({ button: 0 });
    await action.perform();
    person.strokes += 1;
  }
  await browser.releaseActions().catch(() => {});
  // The pad registered ink: the canvas is no longer blank.
  const inked = await browser.execute((sel) => {
    const c = document.querySelector(sel);
    const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let dark = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3] > 0 && (data[i] + data[i + 1] + data[i + 2]) / 3 < 160) dark++;
    }
    return dark;
  }, byTestId("signature-canvas"));
  assert.ok(inked > 200, `the strokes left ink on the canvas (${inked} dark pixels)`);
}
