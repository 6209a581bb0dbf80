import { describe, expect, it } from "vitest";
import { parseHash, routeHash, type Route } from "./router";

describe("routes", () => {
  it("round-trip through the hash", () => {
    const routes: Route[] = [
      { name: "board" },
      { name: "table" },
      { name: "plan" },
      { name: "review" },
      { name: "people" },
      { name: "installation", id: "5f0c8a1e-0000-4000-8000-000000000001" },
      { name: "report", id: "5f0c8a1e-0000-4000-8000-000000000001" },
    ];
    for (const route of routes) expect(parseHash(routeHash(route))).toEqual(route);
  });

  it("sends unknown addresses to the board", () => {
    expect(parseHash("")).toEqual({ name: "board" });
    expect(parseHash("#/nowhere")).toEqual({ name: "board" });
  });
});
