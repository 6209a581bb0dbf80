/** Draws one stroke on an element with synthesized pointer events (as a finger or pen would). */
export async function drawStroke(
  target: Element,
  points: [number, number][],
  pointerType: "touch" | "pen" | "mouse" = "pen",
): Promise<void> {
  const box = target.getBoundingClientRect();
  const init = (x: number, y: number, buttons: number): PointerEventInit => ({
    bubbles: true,
    cancelable: true,
    composed: true,
    pointerId: 7,
    pointerType,
    isPrimary: true,
    clientX: box.left + x,
    clientY: box.top + y,
    buttons,
    button: 0,
    pressure: buttons ? 0.6 : 0,
  });
  const [first, ...rest] = points;
  target.dispatchEvent(new PointerEvent("pointerdown", init(first[0], first[1], 1)));
  for (const [x, y] of rest) {
    await new Promise((r) => setTimeout(r, 20));
    target.dispatchEvent(new PointerEvent("pointermove", init(x, y, 1)));
  }
  const [lx, ly] = points[points.length - 1];
  target.dispatchEvent(new PointerEvent("pointerup", init(lx, ly, 0)));
  await new Promise((r) => setTimeout(r, 20));
}
