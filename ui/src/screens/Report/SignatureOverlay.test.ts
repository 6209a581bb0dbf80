import { describe, expect, it } from "vitest";
import { render } from "vitest-browser-svelte";
import SignatureOverlay from "./SignatureOverlay.svelte";
import { drawStroke } from "../../test/pointer";
import type { SignatureCapture } from "../../lib/signature";

async function setup() {
  const saved: SignatureCapture[] = [];
  let cancelled = 0;
  const screen = await render(SignatureOverlay, {
    customerName: "Ada Lovelace",
    summary: "Charger Zappi · serial Z-1",
    onsave: async (capture: SignatureCapture) => {
      saved.push(capture);
    },
    oncancel: () => cancelled++,
  });
  const canvas = () => screen.getByTestId("signature-canvas").element() as HTMLCanvasElement;
  return { screen, saved, canvas, cancelled: () => cancelled };
}

function decodePng(base64: string): Uint8Array {
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

describe("SignatureOverlay", () => {
  it("saves the strokes drawn with pen, touch and mouse, and a PNG of them", async () => {
    const { screen, saved, canvas } = await setup();
    await expect.element(screen.getByTestId("signature-pad")).toBeVisible();
    await expect.element(screen.getByTestId("signature-name")).toHaveValue("Ada Lovelace");
    await drawStroke(canvas(), [[40, 60], [90, 80], [140, 70], [200, 110]], "pen");
    await drawStroke(canvas(), [[220, 60], [260, 120], [300, 90]], "touch");
    await drawStroke(canvas(), [[320, 80], [380, 85]], "mouse");
    await screen.getByTestId("signature-save").click();
    await expect.poll(() => saved.length).toBe(1);
    const [capture] = saved;
    expect(capture.signerName).toBe("Ada Lovelace");
    expect(capture.strokes).toHaveLength(3);
    expect(capture.strokes[0].points.length).toBeGreaterThanOrEqual(3);
    for (const stroke of capture.strokes) {
      expect(stroke.pen_color).toMatch(/^rgb/);
      expect(stroke.max_width).toBeGreaterThan(stroke.min_width);
      for (const p of stroke.points) {
        expect(Number.isFinite(p.x) && Number.isFinite(p.y) && Number.isFinite(p.pressure) && p.time > 0).toBe(true);
      }
    }
    // Canvas CSS pixels: the first point is where the pen went down.
    expect(capture.strokes[0].points[0].x).toBeCloseTo(40, 0);
    expect(capture.strokes[0].points[0].y).toBeCloseTo(60, 0);
    const png = decodePng(capture.pngBase64);
    expect([...png.slice(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect(png.length).toBeGreaterThan(500);
  });

  it("undo removes only the last stroke; clear removes all", async () => {
    const { screen, saved, canvas } = await setup();
    await drawStroke(canvas(), [[40, 60], [90, 80], [140, 70]]);
    await drawStroke(canvas(), [[200, 60], [260, 120]]);
    await screen.getByTestId("signature-undo").click();
    await screen.getByTestId("signature-save").click();
    await expect.poll(() => saved.length).toBe(1);
    expect(saved[0].strokes).toHaveLength(1);
    expect(saved[0].strokes[0].points[0].x).toBeCloseTo(40, 0);

    await drawStroke(canvas(), [[200, 60], [260, 120]]);
    await screen.getByTestId("signature-clear").click();
    await expect.element(screen.getByTestId("signature-clear")).toBeDisabled();
    await expect.element(screen.getByTestId("signature-undo")).toBeDisabled();
  });

  it("refuses an empty signature or a missing name with a message", async () => {
    const { screen, saved, canvas } = await setup();
    await screen.getByTestId("signature-save").click();
    await expect.element(screen.getByRole("alert")).toHaveTextContent("The signature is empty");
    await drawStroke(canvas(), [[40, 60], [90, 80]]);
    await screen.getByTestId("signature-name").fill("   ");
    await screen.getByTestId("signature-save").click();
    await expect.element(screen.getByRole("alert")).toHaveTextContent("Enter the name of the person signing");
    expect(saved).toHaveLength(0);
  });
});
