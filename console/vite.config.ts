/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import { svelte } from "@sveltejs/vite-plugin-svelte";

// The server embeds dist/ and serves it at /console/ (same origin as the API,
// so the session cookie and CSRF header need no CORS).
export default defineConfig({
  plugins: [svelte()],
  base: "/console/",
  clearScreen: false,
  server: {
    port: 5174,
    strictPort: true,
    // `npm run dev` against a local server (make run-server).
    proxy: { "/api": process.env.FIELDBOOK_SERVER_URL ?? "http://127.0.0.1:8787" },
  },
  build: {
    target: "es2022",
    outDir: "dist",
    emptyOutDir: true,
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
