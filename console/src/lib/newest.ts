/**
 * Live refreshes overlap (a change event, then the screen's own reload after
 * an action): only the newest read may update the screen, or an older answer
 * arriving last would show the state from before the action.
 * `read(fetch)` resolves to the answer, or to `stale` when a newer read started meanwhile.
 */
export const stale = Symbol("stale");

export function newestOnly() {
  let latest = 0;
  return async function read<T>(fetch: () => Promise<T>): Promise<T | typeof stale> {
    const mine = ++latest;
    try {
      const value = await fetch();
      return mine === latest ? value : stale;
    } catch (e) {
      if (mine === latest) throw e;
      return stale;
    }
  };
}
