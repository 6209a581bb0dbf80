export type Theme = "standard" | "high-contrast";

const KEY = "fieldbook.theme";

export function loadTheme(): Theme {
  try {
    return localStorage.getItem(KEY) === "high-contrast" ? "high-contrast" : "standard";
  } catch {
    return "standard";
  }
}

/** Applies the theme to the document and remembers it for the next start. */
export function applyTheme(theme: Theme): void {
  if (theme === "high-contrast") document.documentElement.dataset.theme = "high-contrast";
  else delete document.documentElement.dataset.theme;
  try {
    localStorage.setItem(KEY, theme);
  } catch {
    // Storage can be unavailable; the theme then lasts for this session only.
  }
}
