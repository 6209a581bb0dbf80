export interface FieldbookTestHooks {
  /** Does what the file dialog path does once the dialog returned `paths`. */
  attachFiles(paths: string[]): Promise<void>;
}

declare global {
  interface Window {
    __fieldbookTest?: FieldbookTestHooks;
  }
}

/** Installs the E2E hooks (only when app_info().test_hooks); returns the remover. */
export function installTestHooks(hooks: FieldbookTestHooks): () => void {
  window.__fieldbookTest = hooks;
  return () => {
    if (window.__fieldbookTest === hooks) delete window.__fieldbookTest;
  };
}
