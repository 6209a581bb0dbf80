// Deterministic demo data for the in-memory backend (tests and the browser
// preview). Shaped exactly like what the store returns.
import { addDays } from "../../format";
import type {
  Installation,
  InstallationAssignment,
  InstallationStatus,
  Lead,
  Survey,
  Team,
  TimeSlot,
  User,
} from "../../types";

const FIRST = ["Ada", "Ben", "Chloe", "Dev", "Elif", "Farah", "Gus", "Hana", "Ivo", "Jade", "Kofi", "Lena", "Milo", "Nia", "Omar", "Pia"];
const LAST = ["Lovelace", "Okafor", "Schmidt", "Patel", "Novak", "Haddad", "Berg", "Moreau", "Kowalski", "Silva", "Byrne", "Tanaka"];
const STREETS = ["Mill Lane", "Station Road", "Church Street", "Orchard Close", "High Street", "Park Avenue", "Elm Grove", "Quarry Way"];
const CITIES: [string, string][] = [
  ["Leeds", "LS6"],
  ["York", "YO1"],
  ["Harrogate", "HG2"],
  ["Wakefield", "WF1"],
  ["Bradford", "BD9"],
  ["Ripon", "HG4"],
];
const SLOTS: TimeSlot[] = ["morning", "afternoon", "evening", "full_day"];
const MODELS = ["Wallbox Pulsar Plus 7.4 kW", "Zappi v2.1 7 kW", "Ohme Home Pro", "Easee One", "Hypervolt Home 3 Pro"];

export const TEAM: Team = {
  id: "00000000-0000-4000-8000-00000000aa01",
  name: "North Crew",
  member_ids: ["00000000-0000-4000-8000-0000000000a1", "00000000-0000-4000-8000-0000000000a2"],
};

export const TECHNICIAN: User = {
  id: "00000000-0000-4000-8000-0000000000a1",
  username: "alex",
  full_name: "Alex Morgan",
  role: "technician",
};

const OPS_USER = "00000000-0000-4000-8000-0000000000f1";

export interface MockJob {
  installation: Installation;
  lead: Lead;
  survey: Survey;
  assignment: InstallationAssignment;
}

function uuid(kind: number, n: number): string {
  return `00000000-0000-4000-${(0x8000 + kind).toString(16)}-${n.toString(16).padStart(12, "0")}`;
}

/** Status by distance from today: past jobs are done, today's ready to start, later ones still being planned. */
function statusFor(dayOffset: number, n: number): InstallationStatus {
  if (dayOffset < -2) return (["report_submitted", "closed", "closed", "cancelled"] as const)[n % 4];
  if (dayOffset < 0) return (["report_submitted", "completed", "rescheduled"] as const)[n % 3];
  if (dayOffset === 0) return (["confirmed", "confirmed", "material_ready", "in_progress"] as const)[n % 4];
  if (dayOffset < 3) return (["confirmed", "material_ready", "material_pending"] as const)[n % 3];
  return (["planned", "material_pending", "material_ready", "confirmed"] as const)[n % 4];
}

/**
 * `count` jobs spread over days around `today` (about four a day), sorted as
 * the store sorts them (date, slot, id).
 */
export function makeJobs(count: number, today: string, now = new Date()): MockJob[] {
  const jobs: MockJob[] = [];
  const perDay = 4;
  const firstOffset = -Math.floor(count / perDay / 3);
  for (let n = 0; n < count; n++) {
    const dayOffset = firstOffset + Math.floor(n / perDay);
    const date = addDays(today, dayOffset);
    const [city, area] = CITIES[n % CITIES.length];
    const lead: Lead = {
      id: uuid(1, n + 1),
      customer_name: `${FIRST[n % FIRST.length]} ${LAST[(n * 7) % LAST.length]}`,
      phone: `+44 113 496 ${String(1000 + (n % 9000)).padStart(4, "0")}`,
      email: `customer${n + 1}@example.com`,
      address_line1: `${(n % 97) + 1} ${STREETS[n % STREETS.length]}`,
      address_line2: n % 5 === 0 ? "Flat 2" : "",
      city,
      postcode: `${area} ${(n % 9) + 1}${"ABDEFGHJ"[n % 8]}${"LNPQRSTU"[(n * 3) % 8]}`,
      latitude: 53.8 + (n % 50) / 100,
      longitude: -1.55 + (n % 40) / 100,
      installer_notes:
        n % 3 === 0 ? "Driveway on the left. Consumer unit in the garage; ring the bell twice." : "Park on the street.",
    };
    const survey: Survey = {
      id: uuid(2, n + 1),
      lead_id: lead.id,
      approved_at: new Date(now.getTime() - 14 * 86_400_000).toISOString(),
      surveyor_notes: "Wall-mounted on the garage's outer wall, 8 m cable run through the loft. Earthing: TN-C-S.",
      recommended_charger_model: MODELS[n % MODELS.length],
      main_fuse_amps: [60, 80, 100][n % 3],
      supply_capacity_kva: [13.8, 18.4, 23][n % 3],
      cable_run_length_m: 4 + (n % 20),
      photos_count: 3 + (n % 5),
    };
    const status = statusFor(dayOffset, n);
    const installation: Installation = {
      id: uuid(3, n + 1),
      installation_id: `INS-2026-${String(n + 1).padStart(6, "0")}`,
      survey_id: survey.id,
      lead_id: lead.id,
      scheduled_date: date,
      scheduled_time_slot: SLOTS[n % perDay],
      status,
      material_ready: ["material_ready", "confirmed", "in_progress", "completed", "report_submitted", "closed"].includes(status),
      customer_confirmed: status === "confirmed" || status === "in_progress" || n % 2 === 0,
      demo_completed: status === "report_submitted" || status === "closed",
      created_by: OPS_USER,
      created_at: survey.approved_at,
      updated_at: survey.approved_at,
      status_reason: status === "rescheduled" ? "Customer not at home" : null,
      ops_review_note: null,
    };
    const assignment: InstallationAssignment = {
      id: uuid(4, n + 1),
      installation_id: installation.id,
      team_id: TEAM.id,
      assigned_by: OPS_USER,
      is_primary: true,
      assigned_at: survey.approved_at,
      status: dayOffset > 5 && n % 2 === 0 ? "assigned" : "accepted",
      decline_reason: null,
      responded_at: null,
    };
    jobs.push({ installation, lead, survey, assignment });
  }
  return jobs;
}
