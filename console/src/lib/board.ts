import type { OpsInstallationRow, TeamSummary } from "./bindings";

/** A board row: one team, or the installations nobody is assigned to. */
export type BoardLane = { key: string; team: TeamSummary | null; label: string };

export const UNASSIGNED = "unassigned";

/** The lane key of an installation: its primary team (else its first team), or unassigned. */
export function laneOf(row: OpsInstallationRow): string {
  const primary = row.assignments.find((a) => a.is_primary) ?? row.assignments[0];
  return primary ? primary.team_id : UNASSIGNED;
}

/** Installations by `lane|date`, each cell in slot order (morning first). */
export function cells(rows: OpsInstallationRow[]): Map<string, OpsInstallationRow[]> {
  const order = { morning: 0, full_day: 1, afternoon: 2, evening: 3 } as const;
  const map = new Map<string, OpsInstallationRow[]>();
  for (const row of rows) {
    const key = `${laneOf(row)}|${row.scheduled_date}`;
    const list = map.get(key) ?? [];
    list.push(row);
    map.set(key, list);
  }
  for (const list of map.values()) {
    list.sort((a, b) => order[a.scheduled_time_slot] - order[b.scheduled_time_slot] || a.installation_id.localeCompare(b.installation_id));
  }
  return map;
}

/** The unassigned lane first (it needs attention), then the teams by name. */
export function lanes(teams: TeamSummary[]): BoardLane[] {
  return [
    { key: UNASSIGNED, team: null, label: "Unassigned" },
    ...[...teams].sort((a, b) => a.name.localeCompare(b.name)).map((team) => ({ key: team.id, team, label: team.name })),
  ];
}
