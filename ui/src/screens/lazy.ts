// The screens that are not the first one a technician sees, each loaded
// when first opened: the start-up script then holds only the schedule (cold
// start: WebKit parses and runs less before the first rows). Each import is
// a local file of the bundle, so opening a screen the first time costs a
// few milliseconds once.
export const screens = {
  signIn: () => import("./SignIn/SignIn.svelte"),
  lock: () => import("./Lock/LockScreen.svelte"),
  installation: () => import("./Installation/Installation.svelte"),
  report: () => import("./Report/Report.svelte"),
  sync: () => import("./Sync/Sync.svelte"),
  settings: () => import("./Settings/Settings.svelte"),
};
