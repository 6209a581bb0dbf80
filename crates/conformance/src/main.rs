//! `fieldbook-conformance --base-url URL`: checks a server against the
//! Fieldbook sync protocol and blob API. Exit 0 when every check passed,
//! 1 when one failed, 2 when the suite could not start.

use std::process::ExitCode;

use clap::Parser;
use fieldbook_conformance::{run, Target};

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Checks a Fieldbook server (any implementation) against the sync protocol and blob API"
)]
struct Args {
    /// The server's base URL, e.g. http://127.0.0.1:8787
    #[arg(long, env = "FIELDBOOK_CONFORMANCE_URL")]
    base_url: String,
    /// A Central Ops account the suite logs in with to create its own
    /// teams, users and installations.
    #[arg(long, env = "FIELDBOOK_CONFORMANCE_OPS_USER", default_value = "ops")]
    ops_user: String,
    /// That account's password.
    #[arg(
        long,
        env = "FIELDBOOK_CONFORMANCE_OPS_PASSWORD",
        hide_env_values = true
    )]
    ops_password: String,
    /// Run only the checks whose names contain this text.
    #[arg(long)]
    only: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let target = Target {
        base_url: args.base_url,
        ops_username: args.ops_user,
        ops_password: args.ops_password,
    };
    println!("Fieldbook conformance suite against {}", target.base_url);
    let reports = match run(&target, args.only.as_deref(), |r| println!("{}", r.line())).await {
        Ok(reports) => reports,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if reports.is_empty() {
        eprintln!(
            "no check name contains {:?}; names look like pull.bad_cursor_and_limit_are_refused",
            args.only.unwrap_or_default()
        );
        return ExitCode::FAILURE;
    }
    let failed = reports.iter().filter(|r| !r.passed()).count();
    println!(
        "{} checks: {} passed, {failed} failed",
        reports.len(),
        reports.len() - failed
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
