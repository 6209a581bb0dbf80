import type { SignatureStroke } from "./types";

/** The parts of signature_pad's PointGroup we keep (its `toData()` entries). */
export interface PadPointGroup {
  penColor: string;
  minWidth: number;
  maxWidth: number;
  points: { x: number; y: number; pressure: number; time: number }[];
}

/** signature_pad's strokes → the domain's SignatureStroke (snake_case, finite numbers). */
export function toSignatureStrokes(groups: PadPointGroup[]): SignatureStroke[] {
  return groups
    .filter((g) => g.points.length > 0)
    .map((g) => ({
      pen_color: g.penColor,
      min_width: g.minWidth,
      max_width: g.maxWidth,
      points: g.points.map((p) => ({
        x: p.x,
        y: p.y,
        // Mice report pressure 0; keep it finite whatever the device says.
        pressure: Number.isFinite(p.pressure) ? p.pressure : 0.5,
        time: p.time,
      })),
    }));
}

/** The base64 payload of a `data:image/png;base64,…` URL. */
export function pngBase64FromDataUrl(dataUrl: string): string {
  const prefix = "data:image/png;base64,";
  if (!dataUrl.startsWith(prefix)) throw new Error("the signature image is not a PNG");
  return dataUrl.slice(prefix.length);
}

export function pointCount(strokes: { points: unknown[] }[]): number {
  return strokes.reduce((n, s) => n + s.points.length, 0);
}

/** What the signature pad hands to `sign_report`. */
export interface SignatureCapture {
  pngBase64: string;
  strokes: SignatureStroke[];
  signerName: string;
}
