/** The console's screens, addressed by the URL hash so a link or a reload lands on the same screen. */
export type Route =
  | { name: "board" }
  | { name: "table" }
  | { name: "plan" }
  | { name: "review" }
  | { name: "people" }
  | { name: "installation"; id: string }
  | { name: "report"; id: string };

/** `#/installations/<uuid>/report` → Route; anything unknown is the board. */
export function parseHash(hash: string): Route {
  const parts = hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  switch (parts[0]) {
    case "installations":
      if (parts[1]) return parts[2] === "report" ? { name: "report", id: parts[1] } : { name: "installation", id: parts[1] };
      return { name: "table" };
    case "plan":
      return { name: "plan" };
    case "review":
      return { name: "review" };
    case "people":
      return { name: "people" };
    default:
      return { name: "board" };
  }
}

export function routeHash(route: Route): string {
  switch (route.name) {
    case "board":
      return "#/board";
    case "table":
      return "#/installations";
    case "plan":
      return "#/plan";
    case "review":
      return "#/review";
    case "people":
      return "#/people";
    case "installation":
      return `#/installations/${encodeURIComponent(route.id)}`;
    case "report":
      return `#/installations/${encodeURIComponent(route.id)}/report`;
  }
}

export function go(route: Route): void {
  location.hash = routeHash(route);
}
