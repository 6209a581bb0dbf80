/** Visible interactive elements smaller than 44 px in either direction. */
export function smallTargets(): string[] {
  const small: string[] = [];
  const controls = document.querySelectorAll<HTMLElement>(
    "button, a[href], select, input:not([type=checkbox]):not([type=radio]), textarea, label.check",
  );
  for (const el of controls) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue; // not rendered
    if (el.closest("dialog:not([open])")) continue;
    if (box.height < 44 || box.width < 44) {
      small.push(`${el.tagName.toLowerCase()}[${el.dataset.testid ?? el.textContent?.trim().slice(0, 30)}] ${box.width.toFixed(0)}x${box.height.toFixed(0)}`);
    }
  }
  return small;
}

