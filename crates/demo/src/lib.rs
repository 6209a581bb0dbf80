//! Realistic, deterministic demo data: Central Ops users, field teams of
//! technicians, customer leads with addresses, approved surveys, installations
//! spread over the weeks around a start date, and their team assignments.
//!
//! Used by `fieldbook-server seed-demo`, by tests and by benchmarks. The same
//! seed always gives the same data, so a benchmark's 10,000 installations are
//! the same rows on every run.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use fieldbook_domain::{
    AssignmentStatus, Installation, InstallationAssignment, InstallationId, InstallationStatus,
    Lead, Role, Survey, Team, TimeSlot, User,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

/// What to generate.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    pub seed: u64,
    pub installations: usize,
    pub teams: usize,
    /// "Today" for the schedule: installations are spread from a week before
    /// to five weeks after it; those before it are further along.
    pub start_date: NaiveDate,
}

impl DemoConfig {
    /// A demo of `installations` jobs for `teams` teams around `start_date`.
    pub fn new(installations: usize, teams: usize, start_date: NaiveDate) -> Self {
        Self {
            seed: 2026,
            installations,
            teams: teams.max(1),
            start_date,
        }
    }
}

/// A user with the plain-text demo password the server hashes when seeding.
#[derive(Debug, Clone)]
pub struct DemoUser {
    pub user: User,
    pub password: String,
}

/// The generated data set. Every reference (lead, survey, team, user) points at
/// a row of the same set.
#[derive(Debug, Clone)]
pub struct DemoData {
    pub users: Vec<DemoUser>,
    pub teams: Vec<Team>,
    pub leads: Vec<Lead>,
    pub surveys: Vec<Survey>,
    pub installations: Vec<Installation>,
    pub assignments: Vec<InstallationAssignment>,
    /// Approved surveys (with their leads) that have no installation yet.
    pub unplanned_surveys: Vec<(Lead, Survey)>,
}

impl DemoData {
    /// The technicians (with passwords), in team order.
    pub fn technicians(&self) -> impl Iterator<Item = &DemoUser> {
        self.users
            .iter()
            .filter(|u| u.user.role == Role::Technician)
    }

    /// The Central Ops users.
    pub fn ops_users(&self) -> impl Iterator<Item = &DemoUser> {
        self.users.iter().filter(|u| u.user.role == Role::Ops)
    }
}

const FIRST_NAMES: &[&str] = &[
    "Olivia", "Noah", "Amelia", "Oliver", "Isla", "George", "Ava", "Arthur", "Mia", "Leo", "Ivy",
    "Harry", "Freya", "Oscar", "Lily", "Theo", "Florence", "Jack", "Grace", "Charlie", "Priya",
    "Mohammed", "Zofia", "Tomasz", "Aoife", "Sean", "Nia", "Rhys", "Chloe", "Yusuf",
];
const LAST_NAMES: &[&str] = &[
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel",
    "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall",
    "Wood", "Jackson", "Clarke", "Khan", "Nowak", "O'Brien", "Hughes", "Edwards", "Lewis",
];
const STREETS: &[&str] = &[
    "High Street",
    "Station Road",
    "Church Lane",
    "Victoria Road",
    "Green Lane",
    "Manor Road",
    "Park Avenue",
    "Mill Lane",
    "Kings Road",
    "Queens Road",
    "The Crescent",
    "Orchard Way",
    "Meadow Close",
    "Chapel Street",
    "School Lane",
    "Willow Drive",
    "Beech Grove",
    "Elm Road",
];
/// City, postcode area, latitude, longitude.
const CITIES: &[(&str, &str, f64, f64)] = &[
    ("Leeds", "LS", 53.8008, -1.5491),
    ("Sheffield", "S", 53.3811, -1.4701),
    ("York", "YO", 53.9590, -1.0815),
    ("Bradford", "BD", 53.7960, -1.7594),
    ("Harrogate", "HG", 53.9921, -1.5418),
    ("Wakefield", "WF", 53.6833, -1.4977),
    ("Huddersfield", "HD", 53.6458, -1.7850),
    ("Doncaster", "DN", 53.5228, -1.1285),
];
const INSTALLER_NOTES: &[&str] = &[
    "Park on the drive; the side gate code is 4471.",
    "Customer works nights: please knock quietly before 11:00.",
    "Dog in the back garden, friendly but keep the gate shut.",
    "Consumer unit is in the garage behind the shelving.",
    "Charger to go on the front wall, left of the garage door.",
    "Narrow lane: no space for a large van, park at the church.",
    "Customer would like the cable run through the loft if possible.",
    "Listed building: no visible conduit on the front elevation.",
    "",
];
const SURVEY_NOTES: &[&str] = &[
    "Single-phase 100 A supply, modern split-load consumer unit with spare way.",
    "Earthing is TN-C-S; PEN fault protection required (charger has it built in).",
    "Cable run along the garage wall, 2 × 90° bends, clip every 300 mm.",
    "Wi-Fi signal weak at the mount point; customer agreed to use 4G module.",
    "Main fuse 60 A: load management CT clamp required on the meter tails.",
    "Brick wall, solid; 10 mm anchors. No asbestos found in the garage ceiling.",
];
const CHARGER_MODELS: &[&str] = &[
    "Zappi v2.1 7 kW untethered",
    "Ohme Home Pro 7.4 kW",
    "Wallbox Pulsar Plus 7.4 kW",
    "Easee One 7.4 kW",
    "Hypervolt Home 3 Pro",
    "Andersen A3 7 kW",
    "Pod Point Solo 3S 7 kW",
];
const TEAM_NAMES: &[&str] = &[
    "North Crew",
    "South Crew",
    "East Crew",
    "West Crew",
    "Dales Crew",
    "Moors Crew",
    "City Crew",
    "Coast Crew",
];
const TECHNICIANS: &[(&str, &str)] = &[
    ("alex", "Alex Morgan"),
    ("sam", "Sam Okafor"),
    ("jordan", "Jordan Price"),
    ("kai", "Kai Lindqvist"),
    ("rosa", "Rosa Martín"),
    ("dev", "Dev Sharma"),
    ("erin", "Erin Walsh"),
    ("luca", "Luca Bianchi"),
];

fn uuid(rng: &mut StdRng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.gen()).into_uuid()
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

fn at(date: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.from_utc_datetime(&date.and_hms_opt(hour, minute, 0).expect("valid time"))
}

/// Moves a weekend date to the following Monday: crews work weekdays.
fn weekday_on_or_after(date: NaiveDate) -> NaiveDate {
    match date.weekday() {
        Weekday::Sat => date + Duration::days(2),
        Weekday::Sun => date + Duration::days(1),
        _ => date,
    }
}

/// A status that fits how far the scheduled date is from "today".
fn status_for(rng: &mut StdRng, days_from_today: i64) -> InstallationStatus {
    use InstallationStatus::*;
    let roll: u32 = rng.gen_range(0..100);
    match days_from_today {
        d if d < 0 => match roll {
            0..=59 => Closed,
            60..=84 => ReportSubmitted,
            85..=94 => Rescheduled,
            _ => Cancelled,
        },
        0 => match roll {
            0..=79 => Confirmed,
            _ => MaterialReady,
        },
        1..=7 => match roll {
            0..=64 => Confirmed,
            65..=84 => MaterialReady,
            _ => MaterialPending,
        },
        _ => match roll {
            0..=49 => Planned,
            50..=74 => MaterialPending,
            75..=89 => MaterialReady,
            _ => Confirmed,
        },
    }
}

/// A customer with a made-up name and address.
fn demo_lead(rng: &mut StdRng) -> Lead {
    let first = *pick(rng, FIRST_NAMES);
    let last = *pick(rng, LAST_NAMES);
    let &(city, area, lat, lon) = pick(rng, CITIES);
    Lead {
        id: uuid(rng),
        customer_name: format!("{first} {last}"),
        phone: format!("+44 7700 9{:05}", rng.gen_range(0..100_000)),
        email: format!(
            "{}.{}{}@example.com",
            first.to_lowercase(),
            last.to_lowercase().replace('\'', ""),
            rng.gen_range(1..100)
        ),
        address_line1: format!("{} {}", rng.gen_range(1..240), pick(rng, STREETS)),
        address_line2: if rng.gen_bool(0.15) {
            format!("Flat {}", rng.gen_range(1..20))
        } else {
            String::new()
        },
        city: city.to_owned(),
        postcode: format!(
            "{area}{} {}{}{}",
            rng.gen_range(1..30),
            rng.gen_range(1..10),
            (b'A' + rng.gen_range(0..26)) as char,
            (b'A' + rng.gen_range(0..26)) as char
        ),
        latitude: Some(lat + rng.gen_range(-0.08..0.08)),
        longitude: Some(lon + rng.gen_range(-0.12..0.12)),
        installer_notes: (*pick(rng, INSTALLER_NOTES)).to_owned(),
    }
}

/// An approved survey of a lead.
fn demo_survey(rng: &mut StdRng, lead_id: Uuid, approved_at: DateTime<Utc>) -> Survey {
    Survey {
        id: uuid(rng),
        lead_id,
        approved_at,
        surveyor_notes: (*pick(rng, SURVEY_NOTES)).to_owned(),
        recommended_charger_model: (*pick(rng, CHARGER_MODELS)).to_owned(),
        main_fuse_amps: *pick(rng, &[60u16, 80, 100]),
        supply_capacity_kva: *pick(rng, &[13.8f64, 18.4, 23.0]),
        cable_run_length_m: f64::from(rng.gen_range(20..300u32)) / 10.0,
        photos_count: rng.gen_range(3..12),
    }
}

/// Generates the data set described by `config`.
pub fn generate(config: &DemoConfig) -> DemoData {
    let mut rng = StdRng::seed_from_u64(config.seed);
    let today = config.start_date;

    let mut users = vec![
        DemoUser {
            user: User {
                id: uuid(&mut rng),
                username: "ops".into(),
                full_name: "Priya Natarajan (Central Ops)".into(),
                role: Role::Ops,
            },
            password: "ops-demo-password".into(),
        },
        DemoUser {
            user: User {
                id: uuid(&mut rng),
                username: "ops2".into(),
                full_name: "Martin Fischer (Central Ops)".into(),
                role: Role::Ops,
            },
            password: "ops2-demo-password".into(),
        },
    ];

    let mut teams = Vec::with_capacity(config.teams);
    for t in 0..config.teams.max(1) {
        let mut member_ids = Vec::new();
        for m in 0..2 {
            let n = t * 2 + m;
            let (base, name) = TECHNICIANS[n % TECHNICIANS.len()];
            let round = n / TECHNICIANS.len();
            let username = if round == 0 {
                base.to_owned()
            } else {
                format!("{base}{}", round + 1)
            };
            let full_name = if round == 0 {
                name.to_owned()
            } else {
                format!("{name} {}", round + 1)
            };
            let user = User {
                id: uuid(&mut rng),
                username: username.clone(),
                full_name,
                role: Role::Technician,
            };
            member_ids.push(user.id);
            users.push(DemoUser {
                user,
                password: format!("{username}-demo-password"),
            });
        }
        let base = TEAM_NAMES[t % TEAM_NAMES.len()];
        let round = t / TEAM_NAMES.len();
        teams.push(Team {
            id: uuid(&mut rng),
            name: if round == 0 {
                base.to_owned()
            } else {
                format!("{base} {}", round + 1)
            },
            member_ids,
        });
    }
    let ops_ids: Vec<Uuid> = users
        .iter()
        .filter(|u| u.user.role == Role::Ops)
        .map(|u| u.user.id)
        .collect();

    let n = config.installations;
    let mut leads = Vec::with_capacity(n);
    let mut surveys = Vec::with_capacity(n);
    let mut installations = Vec::with_capacity(n);
    let mut assignments = Vec::with_capacity(n + n / 10);
    let mut per_year_sequence = std::collections::BTreeMap::<i32, u32>::new();

    for i in 0..n {
        let lead = demo_lead(&mut rng);

        let offset_days = if n <= 60 {
            // Small demos: a handful of jobs every working day from today on,
            // so the schedule looks like a real week.
            (i as i64 / 3) - 2
        } else {
            rng.gen_range(-7..=35)
        };
        let scheduled_date = weekday_on_or_after(today + Duration::days(offset_days));
        let days_from_today = (scheduled_date - today).num_days();
        let status = status_for(&mut rng, days_from_today);
        let created_date = today + Duration::days(offset_days.min(0) - rng.gen_range(10..40));
        let approved_at = at(
            created_date - Duration::days(rng.gen_range(1..5)),
            rng.gen_range(9..17),
            rng.gen_range(0..60),
        );
        let created_at = at(created_date, rng.gen_range(8..18), rng.gen_range(0..60));

        let survey = demo_survey(&mut rng, lead.id, approved_at);

        let year = created_at.year();
        let seq = per_year_sequence.entry(year).or_insert(0);
        *seq += 1;
        let created_by = *pick(&mut rng, &ops_ids);
        let slot = *pick(&mut rng, TimeSlot::ALL);
        let installation = Installation {
            id: uuid(&mut rng),
            installation_id: InstallationId::new(year, *seq).expect("demo sequence fits"),
            survey_id: survey.id,
            lead_id: lead.id,
            scheduled_date,
            scheduled_time_slot: slot,
            status,
            material_ready: status.implies_material_ready(),
            customer_confirmed: matches!(status, InstallationStatus::Confirmed)
                || (days_from_today < 0 && rng.gen_bool(0.9)),
            demo_completed: matches!(
                status,
                InstallationStatus::ReportSubmitted | InstallationStatus::Closed
            ),
            created_by,
            created_at,
            updated_at: created_at + Duration::hours(rng.gen_range(1..72)),
            status_reason: match status {
                InstallationStatus::Rescheduled => Some("Customer asked to move the date".into()),
                InstallationStatus::Cancelled => Some("Customer withdrew the order".into()),
                _ => None,
            },
            ops_review_note: None,
            report_template_id: None,
        };

        let team = &teams[i % teams.len()];
        let assignment_status = match status {
            InstallationStatus::ReportSubmitted | InstallationStatus::Closed => {
                AssignmentStatus::Completed
            }
            InstallationStatus::Confirmed if rng.gen_bool(0.6) => AssignmentStatus::Accepted,
            _ => AssignmentStatus::Assigned,
        };
        assignments.push(InstallationAssignment {
            id: uuid(&mut rng),
            installation_id: installation.id,
            team_id: team.id,
            assigned_by: created_by,
            is_primary: true,
            assigned_at: created_at + Duration::hours(2),
            status: assignment_status,
            decline_reason: None,
            responded_at: (assignment_status == AssignmentStatus::Accepted)
                .then(|| created_at + Duration::days(1)),
        });
        // One job in ten has an emergency backup team.
        if teams.len() > 1 && i % 10 == 9 {
            let backup = &teams[(i + 1) % teams.len()];
            assignments.push(InstallationAssignment {
                id: uuid(&mut rng),
                installation_id: installation.id,
                team_id: backup.id,
                assigned_by: created_by,
                is_primary: false,
                assigned_at: created_at + Duration::hours(3),
                status: AssignmentStatus::Assigned,
                decline_reason: None,
                responded_at: None,
            });
        }

        leads.push(lead);
        surveys.push(survey);
        installations.push(installation);
    }

    // Approved surveys Central Ops have not planned yet (the console's Plan
    // screen): drawn last, so the rest of the set is the same as without them.
    let unplanned = if n == 0 { 0 } else { (n / 50).clamp(4, 200) };
    let mut unplanned_surveys = Vec::with_capacity(unplanned);
    for _ in 0..unplanned {
        let lead = demo_lead(&mut rng);
        let approved_at = at(
            today - Duration::days(rng.gen_range(1..10)),
            rng.gen_range(9..17),
            rng.gen_range(0..60),
        );
        let survey = demo_survey(&mut rng, lead.id, approved_at);
        unplanned_surveys.push((lead, survey));
    }

    DemoData {
        users,
        teams,
        leads,
        surveys,
        installations,
        assignments,
        unplanned_surveys,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 27).unwrap()
    }

    #[test]
    fn same_seed_same_data() {
        let a = generate(&DemoConfig::new(50, 3, today()));
        let b = generate(&DemoConfig::new(50, 3, today()));
        assert_eq!(a.installations, b.installations);
        assert_eq!(a.leads, b.leads);
    }

    #[test]
    fn references_are_consistent() {
        let d = generate(&DemoConfig::new(2_000, 5, today()));
        let leads: HashSet<_> = d.leads.iter().map(|l| l.id).collect();
        let surveys: HashSet<_> = d.surveys.iter().map(|s| s.id).collect();
        let users: HashSet<_> = d.users.iter().map(|u| u.user.id).collect();
        let teams: HashSet<_> = d.teams.iter().map(|t| t.id).collect();
        let installs: HashSet<_> = d.installations.iter().map(|i| i.id).collect();
        assert_eq!(installs.len(), 2_000, "ids are unique");
        let human: HashSet<_> = d
            .installations
            .iter()
            .map(|i| i.installation_id.clone())
            .collect();
        assert_eq!(human.len(), 2_000, "installation ids are unique");
        for i in &d.installations {
            assert!(leads.contains(&i.lead_id));
            assert!(surveys.contains(&i.survey_id));
            assert!(users.contains(&i.created_by));
            assert_eq!(i.material_ready, i.status.implies_material_ready());
            assert!(i.scheduled_date.weekday().num_days_from_monday() < 5);
        }
        for a in &d.assignments {
            assert!(installs.contains(&a.installation_id));
            assert!(teams.contains(&a.team_id));
        }
        for t in &d.teams {
            assert_eq!(t.member_ids.len(), 2);
            assert!(t.member_ids.iter().all(|m| users.contains(m)));
        }
        let usernames: HashSet<_> = d.users.iter().map(|u| u.user.username.clone()).collect();
        assert_eq!(usernames.len(), d.users.len(), "usernames are unique");
    }

    #[test]
    fn small_demo_has_work_today() {
        let d = generate(&DemoConfig::new(24, 2, today()));
        let team0 = d.teams[0].id;
        let today_for_team0 = d
            .installations
            .iter()
            .filter(|i| i.scheduled_date == today())
            .filter(|i| {
                d.assignments
                    .iter()
                    .any(|a| a.installation_id == i.id && a.team_id == team0)
            })
            .count();
        assert!(today_for_team0 >= 1, "the first technician has a job today");
        assert!(d.technicians().count() == 4 && d.ops_users().count() == 2);
    }
}
