import "./app.css";
import { mount } from "svelte";
import App from "./App.svelte";
import { applyTheme, loadTheme } from "./lib/theme";

// Cold start (e2e/cold-start.mjs): the bundle has been parsed and its modules evaluated.
performance.mark("fieldbook:script");
applyTheme(loadTheme());

async function boot() {
  // `npm run build:mock` builds a browser preview with an in-memory backend
  // (screenshots, demos); the app build never contains it.
  if (import.meta.env.MODE === "mock") {
    const { installMockBackend } = await import("./lib/backend/mock/install");
    installMockBackend();
  }
  mount(App, { target: document.getElementById("app")! });
}

void boot();
