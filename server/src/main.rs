//! `fieldbook-server`: serve the sync API, seed demo data, and the Central Ops
//! admin commands.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{NaiveDate, Utc};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use fieldbook_domain::{InstallationId, InstallationStatus, Role, TimeSlot};
use fieldbook_protocol::{
    AssignRequest, CreateInstallationRequest, CreateTeamRequest, CreateUserRequest, LeadInput,
    SurveyInput, TransitionRequest,
};
use fieldbook_server::blobs::migrate::BlobTarget;
use fieldbook_server::config_file::ConfigFile;
use fieldbook_server::storage::{DatabaseUrl, Storage};
use fieldbook_server::{admin, backup, seed, AppState, ServerConfig, TlsFiles};
use ipnet::IpNet;
use tracing_subscriber::EnvFilter;
use uuid::Uuid;

#[derive(Debug, Parser)]
#[command(
    name = "fieldbook-server",
    version,
    about = "Fieldbook's central sync server"
)]
struct Cli {
    /// A TOML file with the settings of `serve` and the data directory
    /// (keys named like the flags: `data_dir`, `addr`, `tls_cert`, …).
    /// Flags and environment variables override it.
    #[arg(long, global = true, env = CONFIG_ENV, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

const CONFIG_ENV: &str = "FIELDBOOK_CONFIG";

#[derive(Debug, Args)]
struct DataDir {
    /// Directory holding the database and blobs (created if missing).
    #[arg(long, env = "FIELDBOOK_DATA_DIR")]
    data_dir: PathBuf,
    /// The database: `postgres://user:password@host/db` for PostgreSQL
    /// (several instances may share it), `sqlite://DIR` or a directory for
    /// SQLite. Default: SQLite in the data directory.
    #[arg(long, env = "FIELDBOOK_DATABASE_URL", value_parser = DatabaseUrl::parse)]
    database_url: Option<DatabaseUrl>,
}

impl DataDir {
    fn database(&self) -> DatabaseUrl {
        self.database_url
            .clone()
            .unwrap_or_else(|| DatabaseUrl::Sqlite(self.data_dir.clone()))
    }
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
        #[command(flatten)]
        tls: TlsArgs,
        /// The URL people and devices use, when it is not `addr` (behind a
        /// reverse proxy). An https:// URL makes the console's cookie Secure.
        #[arg(long, value_parser = parse_public_url)]
        public_url: Option<String>,
        /// A reverse proxy (address or network, e.g. 127.0.0.1 or
        /// 10.0.0.0/24) whose X-Forwarded-For names the client for the login
        /// throttle. Repeatable. Without it the header is ignored.
        #[arg(long = "trusted-proxy", value_name = "ADDR_OR_NET", value_parser = parse_network)]
        trusted_proxies: Vec<IpNet>,
        #[command(flatten)]
        blob_store: BlobStoreArgs,
        /// Pulls this instance runs at once. Default: two per core, at
        /// least 2, at most 8 (half of a PostgreSQL instance's 16
        /// connections, so pushes always find one).
        #[arg(long, env = "FIELDBOOK_MAX_CONCURRENT_PULLS", value_parser = clap::value_parser!(u16).range(1..))]
        max_concurrent_pulls: Option<u16>,
        /// The most pulls that may wait (holding no thread) for one of
        /// those. A pull waits only if, by how long pulls take now, it can
        /// expect a slot within 2 s; otherwise, or when this many wait, it
        /// is answered 503 `busy` with Retry-After at once (devices retry
        /// later). Default: 64 per concurrent pull; 0 sheds every pull
        /// over the limit at once.
        #[arg(long, env = "FIELDBOOK_PULL_QUEUE")]
        pull_queue: Option<u16>,
    },
    /// Write an online, consistent copy of the database to a new file
    /// (SQLite `VACUUM INTO`) and check it; the server may keep running.
    /// Copy the data directory's blobs/ afterwards (see docs/operations.md).
    Backup {
        #[command(flatten)]
        data: DataDir,
        /// The backup file to create (never overwritten).
        #[arg(long)]
        to: PathBuf,
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
    /// Central Ops: devices (remote wipe).
    Device {
        #[command(subcommand)]
        command: DeviceCommand,
    },
    /// Publish a signed app build as the update devices of a target get.
    /// Sign it on the build machine first (`cargo tauri signer sign
    /// --app-version VERSION FILE`); the private key never comes here.
    PublishUpdate {
        #[command(flatten)]
        data: DataDir,
        /// The app build (`Fieldbook_0.2.0_amd64.deb`).
        #[arg(long)]
        file: PathBuf,
        /// Its signature file (`Fieldbook_0.2.0_amd64.deb.sig`).
        #[arg(long)]
        signature: PathBuf,
        /// Its version, as signed.
        #[arg(long)]
        version: String,
        /// Release notes the technician sees.
        #[arg(long)]
        notes: Option<String>,
        /// Which devices get it: `{os}-{arch}-{bundle}`.
        #[arg(long, default_value = fieldbook_server::updates::DEFAULT_TARGET)]
        target: String,
    },
    /// Central Ops: report templates (which photos and test results a job needs).
    Template {
        #[command(subcommand)]
        command: TemplateCommand,
    },
    /// Copy every record of a stopped SQLite server into an empty
    /// PostgreSQL database, and its blobs into another blob store, and
    /// verify both (see docs/storage.md). Restartable: run it again after
    /// an interruption. Without --blob-store, blobs stay in the data dir.
    MigrateStorage {
        /// The data dir of the SQLite server (stop that server first).
        #[arg(long)]
        from: PathBuf,
        /// The empty PostgreSQL database: `postgres://user:password@host/db`.
        #[arg(long, value_parser = DatabaseUrl::parse)]
        to: DatabaseUrl,
        /// Where the blobs go: `s3://bucket[/prefix]` (with the settings
        /// below, as for `serve`), or the data directory the new server
        /// will serve with (blobs go to its blobs/ folder).
        #[arg(long, value_name = "URL_OR_DIR", value_parser = parse_blob_target)]
        blob_store: Option<String>,
        #[command(flatten)]
        connection: S3ConnectionArgs,
    },
}

#[derive(Debug, Subcommand)]
enum TemplateCommand {
    /// Publish a template from a JSON file (a ReportTemplate; its version
    /// is ignored): prints the version now current. Publishing a changed
    /// template makes a new version; old versions stay.
    Publish {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        file: PathBuf,
    },
    /// Print the newest version of every template as JSON.
    List {
        #[command(flatten)]
        data: DataDir,
    },
    /// Choose an installation's template (`default` for the default one).
    Set {
        #[command(flatten)]
        data: DataDir,
        /// INS-YYYY-NNNNNN or UUID.
        #[arg(long)]
        installation: String,
        /// A published template's id, or `default`.
        #[arg(long)]
        template: String,
    },
}

fn template_command(command: TemplateCommand) -> Result<()> {
    match command {
        TemplateCommand::Publish { data, file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let template: fieldbook_domain::ReportTemplate = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a report template", file.display()))?;
            let storage = open_storage(&data)?;
            let published = fieldbook_server::report_templates::publish(&storage, &template, None)?;
            let t = &published.template.record;
            if published.created {
                println!("published template {} version {}", t.id, t.version);
            } else {
                println!("unchanged: template {} version {}", t.id, t.version);
            }
        }
        TemplateCommand::List { data } => {
            let storage = open_storage(&data)?;
            let list = fieldbook_server::report_templates::list(&storage)?;
            println!("{}", serde_json::to_string_pretty(&list)?);
        }
        TemplateCommand::Set {
            data,
            installation,
            template,
        } => {
            let storage = open_storage(&data)?;
            let installation = installation_uuid(&storage, &installation)?;
            let template = (template != "default").then_some(template);
            let saved = fieldbook_server::report_templates::set_installation_template(
                &storage,
                installation,
                template.as_deref(),
            )?;
            println!(
                "installation {} uses template {}",
                saved.record.installation_id,
                saved.record.report_template_id()
            );
        }
    }
    Ok(())
}

/// Where blobs live: the data directory unless `--blob-store` names an
/// S3-compatible bucket (docs/blob-store.md). Unset settings come from the
/// standard `AWS_*` environment variables.
#[derive(Debug, Args)]
struct BlobStoreArgs {
    /// `s3://bucket` or `s3://bucket/prefix`: blobs and uploads in an
    /// S3-compatible store shared by every instance.
    #[arg(long, env = "FIELDBOOK_BLOB_STORE", value_name = "URL", value_parser = parse_blob_store)]
    blob_store: Option<String>,
    #[command(flatten)]
    connection: S3ConnectionArgs,
}

impl BlobStoreArgs {
    fn settings(self) -> Option<fieldbook_server::blobs::S3Settings> {
        Some(self.connection.settings(self.blob_store?))
    }
}

/// How to reach the S3-compatible store `--blob-store` names: the same
/// settings for `serve` and `migrate-storage`.
#[derive(Debug, Args)]
struct S3ConnectionArgs {
    /// The store's endpoint when it is not AWS (`http://127.0.0.1:9000`).
    #[arg(long, requires = "blob_store", value_name = "URL")]
    blob_store_endpoint: Option<String>,
    /// The store's region (else `AWS_REGION`).
    #[arg(long, requires = "blob_store")]
    blob_store_region: Option<String>,
    /// Access key id (else `AWS_ACCESS_KEY_ID`).
    #[arg(long, requires = "blob_store")]
    blob_store_access_key_id: Option<String>,
    /// Secret access key (else `AWS_SECRET_ACCESS_KEY`; prefer that or the
    /// config file to a flag other users can see).
    #[arg(long, requires = "blob_store", hide_env_values = true)]
    blob_store_secret_access_key: Option<String>,
    /// Allow a plain-http endpoint (a store on the same host or a test server).
    #[arg(long, requires = "blob_store")]
    blob_store_allow_http: bool,
}

impl S3ConnectionArgs {
    fn settings(self, url: String) -> fieldbook_server::blobs::S3Settings {
        fieldbook_server::blobs::S3Settings {
            url,
            endpoint: self.blob_store_endpoint,
            region: self.blob_store_region,
            access_key_id: self.blob_store_access_key_id,
            secret_access_key: self.blob_store_secret_access_key,
            allow_http: self.blob_store_allow_http,
        }
    }
}

fn parse_blob_store(url: &str) -> Result<String, String> {
    fieldbook_server::blobs::S3Settings::parse_url(url)
}

/// `migrate-storage --blob-store`: an s3:// URL, or a directory.
fn parse_blob_target(value: &str) -> Result<String, String> {
    if value.starts_with("s3://") {
        return parse_blob_store(value);
    }
    if value.contains("://") || value.is_empty() {
        return Err(format!(
            "`{value}` is neither an s3:// URL nor a directory; give s3://bucket[/prefix] or \
             the new server's data directory"
        ));
    }
    Ok(value.to_owned())
}

/// The server's own HTTPS (both or neither).
#[derive(Debug, Args)]
struct TlsArgs {
    /// PEM certificate chain (leaf first): serve HTTPS instead of HTTP.
    #[arg(long, requires = "tls_key", value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert (readable by the server's user only).
    #[arg(long, requires = "tls_cert", value_name = "FILE")]
    tls_key: Option<PathBuf>,
}

impl TlsArgs {
    fn files(self) -> Option<TlsFiles> {
        match (self.tls_cert, self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            // clap's `requires` makes it both or neither.
            _ => None,
        }
    }
}

#[derive(Debug, Subcommand)]
enum DeviceCommand {
    /// Order a device to erase its data: `retired` first sends everything
    /// still unsent, `lost` wipes at its first contact and may send nothing.
    Wipe {
        #[command(flatten)]
        data: DataDir,
        /// The device id (Central Ops' people page lists them).
        #[arg(long)]
        device: Uuid,
        /// `retired` or `lost`.
        #[arg(long, value_parser = parse_wipe_kind)]
        kind: fieldbook_protocol::WipeKind,
    },
}

fn parse_wipe_kind(text: &str) -> Result<fieldbook_protocol::WipeKind, String> {
    fieldbook_protocol::WipeKind::parse(text.trim())
        .ok_or_else(|| format!("{text:?} is not a wipe kind: use `retired` or `lost`"))
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

fn parse_public_url(s: &str) -> Result<String, String> {
    let lower = s.to_ascii_lowercase();
    if (lower.starts_with("https://") || lower.starts_with("http://"))
        && !s.contains(char::is_whitespace)
    {
        Ok(s.trim_end_matches('/').to_owned())
    } else {
        Err("expected an http:// or https:// URL, e.g. https://fieldbook.example.com".to_owned())
    }
}

/// An address (one host) or a network in CIDR notation.
fn parse_network(s: &str) -> Result<IpNet, String> {
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| "expected an IP address or a network such as 10.0.0.0/24".to_owned())
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
    match data.database() {
        DatabaseUrl::Sqlite(dir) => Storage::open(&dir)
            .with_context(|| format!("opening the database in {}", dir.display())),
        url @ DatabaseUrl::Postgres(_) => {
            Storage::open_url(&url).context("opening the PostgreSQL database")
        }
    }
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

async fn serve(addr: SocketAddr, config: ServerConfig) -> Result<()> {
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let state = AppState::open(config)?;
    let mut server = fieldbook_server::start(state, addr).await?;
    println!("fieldbook-server listening on {scheme}://{}", server.addr);
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

/// `--config FILE` (or `--config=FILE`, or $FIELDBOOK_CONFIG), looked up
/// before the real parse because the file supplies the flags' defaults.
fn config_path(args: &[OsString]) -> Option<PathBuf> {
    let mut args = args.iter().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--" {
            break;
        }
        if arg == "--config" {
            return args.next().map(PathBuf::from);
        }
        if let Some(path) = arg.to_str().and_then(|a| a.strip_prefix("--config=")) {
            return Some(path.into());
        }
    }
    std::env::var_os(CONFIG_ENV).map(PathBuf::from)
}

/// The CLI with the config file's values as the defaults of the flags of
/// the same name, in every subcommand that has them: a flag or its
/// environment variable still wins.
fn with_file_defaults(mut command: clap::Command, file: &ConfigFile) -> clap::Command {
    for (id, values) in file.flag_defaults() {
        if command.get_arguments().any(|a| a.get_id() == id) {
            command = command.mut_arg(id, |arg| arg.default_values(values.clone()).required(false));
        }
    }
    let names: Vec<String> = command
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    for name in names {
        command = command.mut_subcommand(name, |sub| with_file_defaults(sub, file));
    }
    command
}

fn parse_cli() -> Result<Cli> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let file = match config_path(&args) {
        Some(path) => ConfigFile::load(&path)?,
        None => ConfigFile::default(),
    };
    let matches = with_file_defaults(Cli::command(), &file).get_matches_from(args);
    Cli::from_arg_matches(&matches).map_err(|e| e.exit())
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = parse_cli()?;
    match cli.command {
        Command::Serve {
            addr,
            data,
            json_logs,
            retention_days,
            tls,
            public_url,
            trusted_proxies,
            blob_store,
            max_concurrent_pulls,
            pull_queue,
        } => {
            init_tracing(json_logs);
            let mut config = ServerConfig::new(data.data_dir.clone());
            config.database_url = data.database_url;
            config.blob_store = blob_store.settings();
            config.tls = tls.files();
            config.public_url = public_url;
            config.trusted_proxies = trusted_proxies;
            config.retention_days = retention_days;
            if let Some(pulls) = max_concurrent_pulls {
                config.max_concurrent_pulls = usize::from(pulls);
            }
            config.pull_queue = pull_queue.map(usize::from);
            serve(addr, config).await
        }
        Command::PublishUpdate {
            data,
            file,
            signature,
            version,
            notes,
            target,
        } => {
            let signature = std::fs::read_to_string(&signature)
                .with_context(|| format!("cannot read {}", signature.display()))?;
            let release = fieldbook_server::updates::publish(
                &data.data_dir,
                &fieldbook_server::updates::PublishRequest {
                    target: &target,
                    file: &file,
                    signature: &signature,
                    version: &version,
                    notes: notes.as_deref(),
                },
            )?;
            println!(
                "published {} {} for {} ({} bytes, sha256 {})",
                release.file_name, release.version, release.target, release.size, release.sha256
            );
            Ok(())
        }
        Command::Backup { data, to } => {
            let DatabaseUrl::Sqlite(dir) = data.database() else {
                anyhow::bail!(
                    "backup copies a SQLite database file; on PostgreSQL use its own tools \
                     (pg_dump, or continuous archiving), then copy the data directory's blobs/"
                );
            };
            let done = backup::backup_database(&dir, &to)?;
            println!(
                "backup {} ({} bytes, schema version {}): integrity check ok",
                done.path.display(),
                done.bytes,
                done.schema_version
            );
            Ok(())
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
        Command::Device {
            command: DeviceCommand::Wipe { data, device, kind },
        } => {
            let storage = open_storage(&data)?;
            let device = fieldbook_server::wipe::order_wipe(&storage, device, kind)
                .map_err(|e| anyhow::anyhow!("{}", e.body.message))?;
            println!(
                "device {} ordered wiped as {}; {}",
                device.device_id,
                device.wipe_kind.unwrap_or(kind).as_str(),
                match device.wipe_confirmed_at {
                    Some(at) => format!("confirmed at {at}"),
                    None => "not confirmed yet".to_owned(),
                }
            );
            Ok(())
        }
        Command::Template { command } => template_command(command),
        Command::MigrateStorage {
            from,
            to,
            blob_store,
            connection,
        } => {
            let blobs = blob_store.map(|target| {
                if target.starts_with("s3://") {
                    BlobTarget::Bucket(connection.settings(target))
                } else {
                    BlobTarget::DataDir(target.into())
                }
            });
            migrate_storage(&from, &to, blobs.as_ref()).await
        }
    }
}

async fn migrate_storage(from: &Path, to: &DatabaseUrl, blobs: Option<&BlobTarget>) -> Result<()> {
    let DatabaseUrl::Postgres(url) = to else {
        anyhow::bail!("--to must be a PostgreSQL database: postgres://user:password@host/db");
    };
    let summary =
        fieldbook_server::storage::migrate::migrate_storage(from, url, blobs, &mut |line| {
            println!("{line}")
        })
        .await?;
    let rows: i64 = summary.rows.iter().map(|(_, n)| n).sum();
    println!(
        "done: {rows} rows in {} tables copied and verified; the next change is number {}",
        summary.rows.len(),
        summary.change_seq + 1
    );
    match (blobs, &summary.blobs) {
        (Some(target), Some(moved)) => {
            println!(
                "done: {} blobs ({} bytes) in {target}, each verified by SHA-256 ({} copied now, \
                 {} by an earlier run)",
                moved.blobs, moved.bytes, moved.copied, moved.already_there
            );
            if moved.unfinished_uploads > 0 {
                println!(
                    "{} unfinished uploads were left in {}: devices start them again on the new \
                     store",
                    moved.unfinished_uploads,
                    from.join("blobs").join("uploads").display()
                );
            }
            match target {
                BlobTarget::Bucket(settings) => println!(
                    "serve with --database-url and --blob-store {} (and the same store settings)",
                    settings.url
                ),
                BlobTarget::DataDir(dir) => println!(
                    "serve with --database-url and --data-dir {}",
                    dir.display()
                ),
            }
        }
        _ => println!(
            "blobs were not copied: they stay in {}; serve with --data-dir {} (or copy that folder, \
             or point --blob-store at where you copied it) together with --database-url",
            from.join("blobs").display(),
            from.display()
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    fn parse_with(file: &ConfigFile, args: &[&str]) -> Result<Cli, clap::Error> {
        let matches = with_file_defaults(Cli::command(), file).try_get_matches_from(
            std::iter::once("fieldbook-server").chain(args.iter().copied()),
        )?;
        Cli::from_arg_matches(&matches)
    }

    #[test]
    fn the_config_file_fills_flags_and_flags_win() {
        let file = ConfigFile {
            addr: Some("0.0.0.0:9443".parse().unwrap()),
            data_dir: Some("/var/lib/fieldbook-server".into()),
            tls_cert: Some("/etc/fb/cert.pem".into()),
            tls_key: Some("/etc/fb/key.pem".into()),
            trusted_proxies: Some(vec!["127.0.0.1".into()]),
            ..ConfigFile::default()
        };
        let Command::Serve {
            addr,
            data,
            tls,
            trusted_proxies,
            ..
        } = parse_with(&file, &["serve"]).unwrap().command
        else {
            panic!("not serve");
        };
        assert_eq!(addr, "0.0.0.0:9443".parse::<SocketAddr>().unwrap());
        assert_eq!(data.data_dir, PathBuf::from("/var/lib/fieldbook-server"));
        assert_eq!(tls.files().unwrap().cert, PathBuf::from("/etc/fb/cert.pem"));
        assert_eq!(
            trusted_proxies,
            vec!["127.0.0.1/32".parse::<IpNet>().unwrap()]
        );

        let Command::Serve { addr, data, .. } = parse_with(
            &file,
            &["serve", "--addr", "127.0.0.1:0", "--data-dir", "/tmp/other"],
        )
        .unwrap()
        .command
        else {
            panic!("not serve");
        };
        assert_eq!(addr, "127.0.0.1:0".parse::<SocketAddr>().unwrap());
        assert_eq!(data.data_dir, PathBuf::from("/tmp/other"));

        // The admin commands take the data directory from the file too.
        let Command::User {
            command: UserCommand::Add { data, .. },
        } = parse_with(
            &file,
            &[
                "user",
                "add",
                "--username",
                "u",
                "--full-name",
                "U",
                "--role",
                "ops",
                "--password",
                "p",
            ],
        )
        .unwrap()
        .command
        else {
            panic!("not user add");
        };
        assert_eq!(data.data_dir, PathBuf::from("/var/lib/fieldbook-server"));
    }

    #[test]
    fn without_a_file_the_data_dir_is_required_and_tls_needs_both_files() {
        let none = ConfigFile::default();
        assert!(parse_with(&none, &["serve"]).is_err());
        assert!(parse_with(&none, &["serve", "--data-dir", "/d", "--tls-cert", "c.pem"]).is_err());
        assert!(parse_with(
            &none,
            &[
                "serve",
                "--data-dir",
                "/d",
                "--public-url",
                "fieldbook.example.com"
            ]
        )
        .is_err());
        assert!(parse_with(
            &none,
            &["serve", "--data-dir", "/d", "--trusted-proxy", "proxy"]
        )
        .is_err());
    }

    #[test]
    fn migrate_storage_takes_a_bucket_with_serves_settings_or_a_directory() {
        let none = ConfigFile::default();
        let base = [
            "migrate-storage",
            "--from",
            "/old",
            "--to",
            "postgres://h/db",
        ];
        let with = |extra: &[&str]| {
            let args: Vec<&str> = base.iter().chain(extra).copied().collect();
            parse_with(&none, &args).map(|cli| cli.command)
        };
        let Command::MigrateStorage {
            blob_store,
            connection,
            ..
        } = with(&[
            "--blob-store",
            "s3://media/fieldbook",
            "--blob-store-endpoint",
            "http://127.0.0.1:9000",
            "--blob-store-allow-http",
        ])
        .unwrap()
        else {
            panic!("not migrate-storage");
        };
        let settings = connection.settings(blob_store.unwrap());
        assert_eq!(settings.url, "s3://media/fieldbook");
        assert_eq!(settings.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert!(settings.allow_http);
        let Command::MigrateStorage { blob_store, .. } =
            with(&["--blob-store", "/srv/fieldbook"]).unwrap()
        else {
            panic!("not migrate-storage");
        };
        assert_eq!(blob_store.as_deref(), Some("/srv/fieldbook"));
        assert!(with(&["--blob-store", "gs://media"]).is_err());
        assert!(with(&["--blob-store-endpoint", "http://127.0.0.1:9000"]).is_err());
        let Command::MigrateStorage { blob_store, .. } = with(&[]).unwrap() else {
            panic!("not migrate-storage");
        };
        assert_eq!(blob_store, None);
    }

    #[test]
    fn the_config_path_is_found_in_any_position() {
        let args = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            config_path(&args(&["fs", "--config", "/etc/f.toml", "serve"])),
            Some(PathBuf::from("/etc/f.toml"))
        );
        assert_eq!(
            config_path(&args(&["fs", "serve", "--config=/etc/g.toml"])),
            Some(PathBuf::from("/etc/g.toml"))
        );
    }

    #[test]
    fn choices_parse_by_their_wire_names() {
        assert!(parse_status("done").is_err());
        assert_eq!(parse_status("cancelled"), Ok(InstallationStatus::Cancelled));
        assert!(parse_slot("midnight").is_err());
        assert_eq!(parse_role("ops"), Ok(Role::Ops));
    }
}
