//! `fieldbook-server`: serve the sync API, seed demo data, and the Central Ops
//! admin commands.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{NaiveDate, Utc};
use clap::{Args, Parser, Subcommand};
use fieldbook_domain::{InstallationId, InstallationStatus, Role, TimeSlot};
use fieldbook_protocol::{
    AssignRequest, CreateInstallationRequest, CreateTeamRequest, CreateUserRequest, LeadInput,
    SurveyInput, TransitionRequest,
};
use fieldbook_server::storage::Storage;
use fieldbook_server::{admin, seed, AppState, ServerConfig};
use tracing_subscriber::EnvFilter;
use uuid::Uuid;

#[derive(Debug, Parser)]
#[command(
    name = "fieldbook-server",
    version,
    about = "Fieldbook's central sync server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct DataDir {
    /// Directory holding the database and blobs (created if missing).
    #[arg(long, env = "FIELDBOOK_DATA_DIR")]
    data_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the sync API.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8787")]
        addr: SocketAddr,
        #[command(flatten)]
        data: DataDir,
        /// Log as JSON lines instead of text.
        #[arg(long)]
        json_logs: bool,
        /// Closed and cancelled jobs last changed longer ago than this many
        /// days are no longer sent to devices (and leave them).
        #[arg(long, env = "FIELDBOOK_RETENTION_DAYS", default_value_t = fieldbook_server::config::DEFAULT_RETENTION_DAYS)]
        retention_days: u32,
    },
    /// Fill an empty server with demo teams, users, leads, surveys,
    /// installations and assignments, and print the demo credentials.
    SeedDemo {
        #[command(flatten)]
        data: DataDir,
        #[arg(long, default_value_t = 60)]
        installations: usize,
        #[arg(long, default_value_t = 3)]
        teams: usize,
        #[arg(long, default_value_t = 2026)]
        seed: u64,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage teams.
    Team {
        #[command(subcommand)]
        command: TeamCommand,
    },
    /// Central Ops: plan, assign and move installations.
    Installation {
        #[command(subcommand)]
        command: InstallationCommand,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a user.
    Add {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        username: String,
        #[arg(long)]
        full_name: String,
        /// `ops` or `technician`.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// The password (prefer the environment variable, which stays out of
        /// the shell history).
        #[arg(long, env = "FIELDBOOK_PASSWORD", hide_env_values = true)]
        password: String,
    },
}

#[derive(Debug, Subcommand)]
enum TeamCommand {
    /// Add a team.
    Add {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        name: String,
        /// Usernames of the members (repeatable).
        #[arg(long = "member")]
        members: Vec<String>,
    },
    /// Add a member to a team.
    AddMember {
        #[command(flatten)]
        data: DataDir,
        /// Team name.
        #[arg(long)]
        team: String,
        /// Username of the new member.
        #[arg(long)]
        member: String,
    },
    /// Remove a member from a team; their devices pull tombstones for the
    /// team's installations at their next sync.
    RemoveMember {
        #[command(flatten)]
        data: DataDir,
        /// Team name.
        #[arg(long)]
        team: String,
        /// Username of the member to remove.
        #[arg(long)]
        member: String,
    },
}

#[derive(Debug, Subcommand)]
enum InstallationCommand {
    /// Plan an installation; prints its INS-YYYY-NNNNNN id.
    Create {
        #[command(flatten)]
        data: DataDir,
        /// The ops user planning it.
        #[arg(long)]
        created_by: String,
        #[arg(long)]
        customer_name: String,
        #[arg(long)]
        address: String,
        #[arg(long)]
        city: String,
        #[arg(long)]
        postcode: String,
        #[arg(long, default_value = "")]
        phone: String,
        #[arg(long)]
        charger_model: String,
        #[arg(long, default_value_t = 100)]
        main_fuse_amps: u16,
        #[arg(long, default_value_t = 23.0)]
        supply_capacity_kva: f64,
        #[arg(long, default_value_t = 10.0)]
        cable_run_length_m: f64,
        /// YYYY-MM-DD.
        #[arg(long)]
        date: NaiveDate,
        /// morning, afternoon, evening or full_day.
        #[arg(long, value_parser = parse_slot)]
        slot: TimeSlot,
    },
    /// Assign an installation to a team.
    Assign {
        #[command(flatten)]
        data: DataDir,
        /// INS-YYYY-NNNNNN or UUID.
        #[arg(long)]
        installation: String,
        /// Team name.
        #[arg(long)]
        team: String,
        /// The ops user assigning it.
        #[arg(long)]
        assigned_by: String,
        /// Emergency backup rather than primary.
        #[arg(long)]
        backup: bool,
    },
    /// An ops lifecycle move (confirmed, rescheduled, cancelled, closed, …).
    Transition {
        #[command(flatten)]
        data: DataDir,
        /// INS-YYYY-NNNNNN or UUID.
        #[arg(long)]
        installation: String,
        #[arg(long, value_parser = parse_status)]
        to: InstallationStatus,
        #[arg(long)]
        reason: Option<String>,
        /// New date (with --slot) when moving rescheduled → planned.
        #[arg(long)]
        date: Option<NaiveDate>,
        #[arg(long, value_parser = parse_slot)]
        slot: Option<TimeSlot>,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| "expected `ops` or `technician`".to_owned())
}

fn parse_slot(s: &str) -> Result<TimeSlot, String> {
    TimeSlot::parse(s).ok_or_else(|| "expected morning, afternoon, evening or full_day".to_owned())
}

fn parse_status(s: &str) -> Result<InstallationStatus, String> {
    InstallationStatus::parse(s).ok_or_else(|| {
        let all: Vec<_> = InstallationStatus::ALL.iter().map(|s| s.as_str()).collect();
        format!("expected one of {}", all.join(", "))
    })
}

fn open_storage(data: &DataDir) -> Result<Storage> {
    Storage::open(&data.data_dir)
        .with_context(|| format!("opening the database in {}", data.data_dir.display()))
}

fn user_id(storage: &Storage, username: &str) -> Result<Uuid> {
    storage
        .read(|db| db.user_by_username(username))?
        .map(|u| u.id)
        .with_context(|| format!("no user named {username:?}"))
}

fn installation_uuid(storage: &Storage, id: &str) -> Result<Uuid> {
    if let Ok(uuid) = Uuid::parse_str(id) {
        return Ok(uuid);
    }
    let human: InstallationId = id.parse()?;
    storage
        .read(|db| db.installation_by_human_id(&human))?
        .map(|v| v.record.id)
        .with_context(|| format!("no installation {id}"))
}

fn init_tracing(json: bool) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn serve(addr: SocketAddr, data_dir: &Path, retention_days: u32) -> Result<()> {
    let mut config = ServerConfig::new(data_dir.to_owned());
    config.retention_days = retention_days;
    let state = AppState::open(config)?;
    let mut server = fieldbook_server::start(state, addr).await?;
    println!("fieldbook-server listening on http://{}", server.addr);
    let interrupted = tokio::select! {
        result = shutdown_signal() => {
            result?;
            true
        }
        result = server.stopped() => {
            result?;
            false
        }
    };
    if interrupted {
        tracing::info!("shutting down");
        tokio::time::timeout(fieldbook_server::app::SHUTDOWN_GRACE, server.shutdown())
            .await
            .context("in-flight requests did not finish in time")??;
    }
    Ok(())
}

/// Ctrl-C, or SIGTERM from a service manager.
async fn shutdown_signal() -> Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("installing the SIGTERM handler")?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.context("waiting for Ctrl-C"),
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")
    }
}

fn seed_demo(data: &DataDir, installations: usize, teams: usize, seed_value: u64) -> Result<()> {
    let storage = open_storage(data)?;
    let mut config = fieldbook_demo::DemoConfig::new(installations, teams, Utc::now().date_naive());
    config.seed = seed_value;
    let demo = fieldbook_demo::generate(&config);
    seed::import_demo(
        &storage,
        ServerConfig::new(data.data_dir.clone()).password_hashing,
        &demo,
    )?;
    println!(
        "Seeded {} installations, {} teams, {} users into {}",
        demo.installations.len(),
        demo.teams.len(),
        demo.users.len(),
        data.data_dir.display()
    );
    println!("Demo credentials (username / password / role / teams):");
    for user in &demo.users {
        let teams: Vec<&str> = demo
            .teams
            .iter()
            .filter(|t| t.member_ids.contains(&user.user.id))
            .map(|t| t.name.as_str())
            .collect();
        println!(
            "  {} / {} / {} / {}",
            user.user.username,
            user.password,
            user.user.role,
            if teams.is_empty() {
                "-".to_owned()
            } else {
                teams.join(", ")
            }
        );
    }
    Ok(())
}

fn team_id(storage: &Storage, name: &str) -> Result<Uuid> {
    storage
        .read(|db| db.team_by_name(name))?
        .map(|t| t.id)
        .with_context(|| format!("no team named {name:?}"))
}

fn team_command(command: TeamCommand) -> Result<()> {
    let team = match command {
        TeamCommand::Add {
            data,
            name,
            members,
        } => {
            let storage = open_storage(&data)?;
            let member_ids = members
                .iter()
                .map(|m| user_id(&storage, m))
                .collect::<Result<Vec<_>>>()?;
            admin::create_team(&storage, &CreateTeamRequest { name, member_ids })?
        }
        TeamCommand::AddMember { data, team, member } => {
            let storage = open_storage(&data)?;
            let (team, member) = (team_id(&storage, &team)?, user_id(&storage, &member)?);
            admin::add_team_member(&storage, team, member)?
        }
        TeamCommand::RemoveMember { data, team, member } => {
            let storage = open_storage(&data)?;
            let (team, member) = (team_id(&storage, &team)?, user_id(&storage, &member)?);
            admin::remove_team_member(&storage, team, member)?
        }
    };
    println!(
        "team {} {} ({} members)",
        team.record.name,
        team.record.id,
        team.record.member_ids.len()
    );
    Ok(())
}

fn installation_command(command: InstallationCommand) -> Result<()> {
    match command {
        InstallationCommand::Create {
            data,
            created_by,
            customer_name,
            address,
            city,
            postcode,
            phone,
            charger_model,
            main_fuse_amps,
            supply_capacity_kva,
            cable_run_length_m,
            date,
            slot,
        } => {
            let storage = open_storage(&data)?;
            let by = user_id(&storage, &created_by)?;
            let request = CreateInstallationRequest {
                lead: LeadInput {
                    customer_name,
                    phone,
                    email: String::new(),
                    address_line1: address,
                    address_line2: String::new(),
                    city,
                    postcode,
                    latitude: None,
                    longitude: None,
                    installer_notes: String::new(),
                },
                survey: SurveyInput {
                    approved_at: None,
                    surveyor_notes: String::new(),
                    recommended_charger_model: charger_model,
                    main_fuse_amps,
                    supply_capacity_kva,
                    cable_run_length_m,
                    photos_count: 0,
                },
                scheduled_date: date,
                scheduled_time_slot: slot,
            };
            let created = admin::create_installation(&storage, by, &request)?;
            println!("{} {}", created.record.installation_id, created.record.id);
        }
        InstallationCommand::Assign {
            data,
            installation,
            team,
            assigned_by,
            backup,
        } => {
            let storage = open_storage(&data)?;
            let installation = installation_uuid(&storage, &installation)?;
            let by = user_id(&storage, &assigned_by)?;
            let team = storage
                .read(|db| db.team_by_name(&team))?
                .with_context(|| format!("no team named {team:?}"))?;
            let request = AssignRequest {
                team_id: team.id,
                is_primary: !backup,
            };
            let assignment = admin::assign(&storage, installation, &request, by)?;
            println!("assignment {}", assignment.record.id);
        }
        InstallationCommand::Transition {
            data,
            installation,
            to,
            reason,
            date,
            slot,
        } => {
            let storage = open_storage(&data)?;
            let installation = installation_uuid(&storage, &installation)?;
            let request = TransitionRequest {
                to,
                expected_from: None,
                reason,
                scheduled_date: date,
                scheduled_time_slot: slot,
            };
            let moved = admin::transition(&storage, installation, &request)?;
            println!(
                "{} is now {}",
                moved.record.installation_id, moved.record.status
            );
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            addr,
            data,
            json_logs,
            retention_days,
        } => {
            init_tracing(json_logs);
            serve(addr, &data.data_dir, retention_days).await
        }
        Command::SeedDemo {
            data,
            installations,
            teams,
            seed,
        } => seed_demo(&data, installations, teams, seed),
        Command::User {
            command:
                UserCommand::Add {
                    data,
                    username,
                    full_name,
                    role,
                    password,
                },
        } => {
            let storage = open_storage(&data)?;
            let request = CreateUserRequest {
                username,
                full_name,
                role,
                password,
            };
            let hashing = ServerConfig::new(data.data_dir.clone()).password_hashing;
            let user = admin::create_user(&storage, hashing, &request)?;
            println!("user {} {}", user.record.username, user.record.id);
            Ok(())
        }
        Command::Team { command } => team_command(command),
        Command::Installation { command } => installation_command(command),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn choices_parse_by_their_wire_names() {
        assert!(parse_status("done").is_err());
        assert_eq!(parse_status("cancelled"), Ok(InstallationStatus::Cancelled));
        assert!(parse_slot("midnight").is_err());
        assert_eq!(parse_role("ops"), Ok(Role::Ops));
    }
}
