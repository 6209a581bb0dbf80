import { getCurrentWebview } from "@tauri-apps/api/webview";
import type { UnlistenFn } from "@tauri-apps/api/event";

export type DropState = "over" | "left";

/**
 * Files dragged onto the window: `onHover` while something is over it,
 * `onDrop(paths)` when dropped. Tauri hands us real file paths (a browser
 * drop event would only give File objects without paths).
 */
export async function onFileDrop(
  onDrop: (paths: string[]) => void,
  onHover: (state: DropState) => void,
): Promise<UnlistenFn> {
  return getCurrentWebview().onDragDropEvent((event) => {
    const payload = event.payload;
    if (payload.type === "enter" || payload.type === "over") onHover("over");
    else if (payload.type === "leave") onHover("left");
    else if (payload.type === "drop") {
      onHover("left");
      if (payload.paths.length > 0) onDrop(payload.paths);
    }
  });
}
