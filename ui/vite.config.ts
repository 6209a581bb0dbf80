/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import { svelte } from "@sveltejs/vite-plugin-svelte";
import { playwright } from "@vitest/browser-playwright";

// Debian's Chromium: nothing here may download a browser of its own.
const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export default defineConfig({
  plugins: [svelte()],
  // Tauri loads the files from disk through its own protocol: relative paths.
  base: "./",
  clearScreen: false,
  // src-tauri/tauri.conf.json devUrl points here (`cargo tauri dev`).
  server: { port: 5173, strictPort: true },
  build: {
    target: "es2022",
    outDir: process.env.FIELDBOOK_UI_OUT ?? "dist",
    emptyOutDir: true,
  },
  test: {
    include: ["src/**/*.test.ts"],
    browser: {
      enabled: true,
      headless: true,
      screenshotFailures: false,
      provider: playwright({
        launchOptions: {
          executablePath: chromiumPath,
          args: [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
          ],
        },
      }),
      instances: [{ browser: "chromium", viewport: { width: 1366, height: 768 } }],
    },
  },
});
