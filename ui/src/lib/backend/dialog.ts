import { open, save } from "@tauri-apps/plugin-dialog";

export const PHOTO_EXTENSIONS = ["jpg", "jpeg", "png", "heic", "heif", "webp"];
export const VIDEO_EXTENSIONS = ["mp4", "mov", "m4v", "webm", "mkv", "avi"];

/** The native file dialog for photos and videos; [] when cancelled. */
export async function pickMediaFiles(): Promise<string[]> {
  const picked = await open({
    multiple: true,
    directory: false,
    title: "Add photos and videos",
    filters: [
      { name: "Photos and videos", extensions: [...PHOTO_EXTENSIONS, ...VIDEO_EXTENSIONS] },
      { name: "Photos", extensions: PHOTO_EXTENSIONS },
      { name: "Videos", extensions: VIDEO_EXTENSIONS },
    ],
  });
  if (picked == null) return [];
  return Array.isArray(picked) ? picked : [picked];
}

/** The native save dialog for the diagnostics zip; null when cancelled. */
export async function chooseDiagnosticsFile(suggestedName: string): Promise<string | null> {
  return save({
    title: "Save diagnostics",
    defaultPath: suggestedName,
    filters: [{ name: "Zip archive", extensions: ["zip"] }],
  });
}

/** The native save dialog for a copy of the completion certificate; null when cancelled. */
export async function chooseCertificateFile(suggestedName: string): Promise<string | null> {
  return save({
    title: "Save a copy of the certificate",
    defaultPath: suggestedName,
    filters: [{ name: "PDF document", extensions: ["pdf"] }],
  });
}
