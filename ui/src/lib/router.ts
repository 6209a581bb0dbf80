export type Route =
  | { name: "schedule" }
  | { name: "installation"; id: string }
  | { name: "report"; id: string }
  | { name: "sync" }
  | { name: "settings" };

/** `#/installation/<uuid>/report` → Route; anything unknown is the schedule. */
export function parseHash(hash: string): Route {
  const parts = hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  switch (parts[0]) {
    case "installation":
      if (parts[1]) return parts[2] === "report" ? { name: "report", id: parts[1] } : { name: "installation", id: parts[1] };
      return { name: "schedule" };
    case "sync":
      return { name: "sync" };
    case "settings":
      return { name: "settings" };
    default:
      return { name: "schedule" };
  }
}

export function routeHash(route: Route): string {
  switch (route.name) {
    case "schedule":
      return "#/schedule";
    case "installation":
      return `#/installation/${encodeURIComponent(route.id)}`;
    case "report":
      return `#/installation/${encodeURIComponent(route.id)}/report`;
    case "sync":
      return "#/sync";
    case "settings":
      return "#/settings";
  }
}

/** Where "Back" goes from a route (the screen above it, not browser history). */
export function parentRoute(route: Route): Route | null {
  switch (route.name) {
    case "report":
      return { name: "installation", id: route.id };
    case "installation":
    case "sync":
    case "settings":
      return { name: "schedule" };
    case "schedule":
      return null;
  }
}
