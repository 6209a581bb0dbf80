// Test files a technician would attach: real JPEGs made with ImageMagick.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { imageMagick } from "./env.mjs";

const run = promisify(execFile);

export function sha256File(path) {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/**
 * `count` distinct photo-like JPEGs (fractal plasma, a different seed each)
 * in `dir`; returns [{path, sha256, size}].
 */
export async function makePhotos(dir, count) {
  const photos = [];
  for (let i = 1; i <= count; i++) {
    const path = join(dir, `site-photo-${i}.jpg`);
    await run(imageMagick.convert, ["-seed", String(1000 + i), "-size", "1200x900", "plasma:darkgreen-skyblue", "-quality", "85", path]);
    photos.push({ path, sha256: sha256File(path), size: statSync(path).size });
  }
  return photos;
}
