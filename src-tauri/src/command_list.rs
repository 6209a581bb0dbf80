//! Every command the UI may call, declared once: its name, its arguments as
//! the UI passes them, and its result. Everything else is derived from this
//! list:
//!
//! - the invoke handler (`lib.rs`): a command missing here is not callable;
//! - [`wrappers_match_the_list`]: compiles only if each `#[tauri::command]`
//!   wrapper takes exactly the declared argument types, in order, and
//!   answers `CommandResult<declared result>`;
//! - `ui/src/lib/bindings/Commands.ts`: the TypeScript map of command name →
//!   arguments and result that the UI's `call()` and the mock backend are
//!   typed with. Written with the other bindings (`bindings.rs`), committed,
//!   and its test fails when the committed file is stale.
//!
//! So a command renamed or retyped here fails `svelte-check` wherever the UI
//! still uses the old name or shape, and a wrapper changed without this list
//! fails to compile. What the compiler cannot see is a wrapper's parameter
//! *name* (Tauri reads the arguments by name): keep the names here equal to
//! the wrapper's.

use std::collections::BTreeSet;
use std::path::Path;

/// The list. One entry per command: `module::name(arg: Type, …) -> Result;`
/// where the wrapper is `module::commands::name`. An argument whose type has
/// no TypeScript binding gives it after `as`.
macro_rules! with_app_commands {
    ($then:ident) => {
        $then! {
            session::app_info() -> crate::session::AppInfo;
            session::current_session() -> Option<fieldbook_store::Session>;
            session::sign_in(server_url: String, username: String, password: String)
                -> fieldbook_store::Session;
            session::sign_out(force: bool) -> ();
            installations::list_installations(query: fieldbook_store::InstallationQuery)
                -> crate::installations::InstallationPage;
            installations::get_installation(id: uuid::Uuid) -> fieldbook_store::InstallationDetail;
            installations::search_server(text: String)
                -> Vec<crate::installations::ServerSearchHit>;
            installations::dismiss_held_work(id: uuid::Uuid) -> bool;
            installations::start_installation(id: uuid::Uuid, override_reason: Option<String>)
                -> fieldbook_domain::Installation;
            installations::finish_installation(id: uuid::Uuid) -> fieldbook_domain::Installation;
            installations::could_not_complete(id: uuid::Uuid, reason: String)
                -> fieldbook_domain::Installation;
            installations::set_installation_flags(
                id: uuid::Uuid,
                flags: crate::installations::InstallationFlags
            ) -> fieldbook_domain::Installation;
            installations::respond_to_assignment(
                assignment_id: uuid::Uuid,
                accept: bool,
                decline_reason: Option<String>
            ) -> fieldbook_domain::InstallationAssignment;
            reports::get_report_draft(installation_id: uuid::Uuid)
                -> Option<fieldbook_domain::ReportDraft>;
            reports::save_report_draft(draft: fieldbook_domain::ReportDraft)
                -> fieldbook_store::DraftSaved;
            reports::sign_report(
                installation_id: uuid::Uuid,
                png_base64: String,
                strokes: Vec<fieldbook_domain::SignatureStroke>,
                signer_name: String
            ) -> fieldbook_domain::ReportDraft;
            reports::submit_report(installation_id: uuid::Uuid)
                -> fieldbook_domain::InstallationReport;
            reports::get_report(installation_id: uuid::Uuid)
                -> Option<fieldbook_domain::InstallationReport>;
            media::attach_media(
                installation_id: uuid::Uuid,
                paths: Vec<String>,
                on_progress: tauri::ipc::Channel<crate::media::AttachProgress>
                    as "Channel<AttachProgress>"
            ) -> Vec<fieldbook_domain::InstallationMedia>;
            media::set_media_caption(media_id: uuid::Uuid, caption: String)
                -> fieldbook_domain::InstallationMedia;
            media::remove_media(media_id: uuid::Uuid) -> ();
            media::label_offers(installation_id: uuid::Uuid) -> Vec<fieldbook_store::LabelOffer>;
            certificates::make_certificate(installation_id: uuid::Uuid) -> fieldbook_store::Certificate;
            certificates::save_certificate_copy(installation_id: uuid::Uuid, path: String) -> String;
            certificates::certificate_pages(installation_id: uuid::Uuid)
                -> Vec<fieldbook_store::CertificatePage>;
            sync::sync_status() -> fieldbook_sync::SyncStatus;
            sync::sync_now() -> ();
            sync::needs_attention() -> Vec<fieldbook_store::OutboxEntry>;
            sync::retry_outbox_entry(mutation_id: uuid::Uuid) -> ();
            sync::dismiss_outbox_entry(mutation_id: uuid::Uuid) -> bool;
            settings::storage_usage() -> crate::settings::StorageUsage;
            settings::save_diagnostics(path: String) -> crate::settings::DiagnosticsSaved;
            updates::update_status() -> fieldbook_sync::updates::UpdateStatus;
            updates::install_readiness() -> fieldbook_sync::updates::InstallReadiness;
            updates::install_update() -> ();
            settings::key_storage() -> crate::settings::KeyStorage;
            app_lock::lock_status() -> fieldbook_sync::app_lock::LockStatus;
            app_lock::lock_app() -> fieldbook_sync::app_lock::LockStatus;
            app_lock::unlock_app(password: String) -> fieldbook_sync::app_lock::UnlockOutcome;
            app_lock::set_customer_signing(signing: bool) -> fieldbook_sync::app_lock::LockStatus;
            app_lock::set_idle_lock_minutes(minutes: u32) -> fieldbook_sync::app_lock::LockStatus;
        }
    };
}
pub(crate) use with_app_commands;

/// `tauri::generate_handler!` over every wrapper of the list.
macro_rules! invoke_handler {
    ($($module:ident :: $name:ident ($($arg:ident : $ty:ty $(as $ts:literal)?),* $(,)?) -> $result:ty;)*) => {
        tauri::generate_handler![$($module::commands::$name),*]
    };
}
pub(crate) use invoke_handler;

/// A value of any type, for [`wrappers_match_the_list`], which is only
/// type-checked.
#[allow(dead_code)]
fn declared<T>() -> T {
    unreachable!("only type-checked, never called")
}

macro_rules! check_wrappers {
    ($($module:ident :: $name:ident ($($arg:ident : $ty:ty $(as $ts:literal)?),* $(,)?) -> $result:ty;)*) => {
        /// Never called: it compiles only if every wrapper takes `State` and
        /// the declared arguments, in order, and answers
        /// `CommandResult<declared result>`.
        #[allow(dead_code, unreachable_code, clippy::diverging_sub_expression)]
        async fn wrappers_match_the_list() {
            $(
                let _: crate::error::CommandResult<$result> =
                    crate::$module::commands::$name(declared(), $(declared::<$ty>()),*).await;
            )*
        }
    };
}
with_app_commands!(check_wrappers);

/// One command as the TypeScript map shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandType {
    pub name: &'static str,
    /// (name as `invoke` takes it, TypeScript type)
    pub args: Vec<(String, String)>,
    pub result: String,
}

macro_rules! ts_type {
    ($cfg:ident, $ty:ty, $ts:literal) => {
        String::from($ts)
    };
    ($cfg:ident, $ty:ty) => {
        <$ty as ts_rs::TS>::name($cfg)
    };
}

macro_rules! list_command_types {
    ($($module:ident :: $name:ident ($($arg:ident : $ty:ty $(as $ts:literal)?),* $(,)?) -> $result:ty;)*) => {
        /// Every command of the list with its TypeScript argument and result types.
        pub fn command_types(cfg: &ts_rs::Config) -> Vec<CommandType> {
            vec![$(CommandType {
                name: stringify!($name),
                args: vec![$((camel_case(stringify!($arg)), ts_type!(cfg, $ty $(, $ts)?))),*],
                result: <$result as ts_rs::TS>::name(cfg),
            }),*]
        }
    };
}
with_app_commands!(list_command_types);

/// Tauri passes command arguments under their camelCase names.
fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Type names in a TypeScript type expression that must be imported (the
/// generated bindings), leaving out the language's own and `Channel`.
fn referenced_types(ts: &str) -> impl Iterator<Item = &str> {
    ts.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with(|c: char| c.is_ascii_uppercase()))
        .filter(|word| !matches!(*word, "Array" | "Record" | "Channel"))
}

/// Writes `Commands.ts` into the bindings directory `out_dir`, which must
/// already hold every binding it names.
pub fn write_command_types(out_dir: &Path, cfg: &ts_rs::Config) -> std::io::Result<()> {
    let commands = command_types(cfg);
    let mut imports = BTreeSet::new();
    let mut uses_channel = false;
    let mut body = String::new();
    for command in &commands {
        let args = if command.args.is_empty() {
            "Record<string, never>".to_owned()
        } else {
            let fields: Vec<String> = command
                .args
                .iter()
                .map(|(name, ts)| format!("{name}: {ts}"))
                .collect();
            format!("{{ {} }}", fields.join(", "))
        };
        for ts in command
            .args
            .iter()
            .map(|(_, ts)| ts)
            .chain([&command.result])
        {
            imports.extend(referenced_types(ts).map(str::to_owned));
            uses_channel |= ts.contains("Channel<");
        }
        body.push_str(&format!(
            "  {}: {{ args: {args}, result: {} }},\n",
            command.name, command.result
        ));
    }
    let mut text = String::from(
        "// Generated by src-tauri/src/command_list.rs from the list of commands; do not edit.\n\
         // Regenerate with `FIELDBOOK_UPDATE_BINDINGS=1 cargo test -p fieldbook bindings`.\n",
    );
    if uses_channel {
        text.push_str("import type { Channel } from \"@tauri-apps/api/core\";\n");
    }
    for name in &imports {
        if !out_dir.join(format!("{name}.ts")).is_file() {
            return Err(std::io::Error::other(format!(
                "the command list uses {name}, which has no binding: add it to bindings.rs"
            )));
        }
        text.push_str(&format!("import type {{ {name} }} from \"./{name}\";\n"));
    }
    text.push_str(
        "\n/** Every command the app answers: the arguments `invoke` takes, and the result. */\n\
         export type Commands = {\n",
    );
    text.push_str(&body);
    text.push_str("};\n");
    std::fs::write(out_dir.join("Commands.ts"), text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_go_by_their_camel_case_names() {
        assert_eq!(camel_case("installation_id"), "installationId");
        assert_eq!(camel_case("png_base64"), "pngBase64");
        assert_eq!(camel_case("force"), "force");
    }

    #[test]
    fn the_map_has_every_command_once_with_its_types() {
        let cfg = ts_rs::Config::new().with_large_int("number");
        let commands = command_types(&cfg);
        let names: BTreeSet<&str> = commands.iter().map(|c| c.name).collect();
        assert_eq!(names.len(), commands.len(), "a command is listed twice");
        let sign_in = commands.iter().find(|c| c.name == "sign_in").unwrap();
        assert_eq!(
            sign_in.args,
            [
                ("serverUrl".to_owned(), "string".to_owned()),
                ("username".to_owned(), "string".to_owned()),
                ("password".to_owned(), "string".to_owned())
            ]
        );
        assert_eq!(sign_in.result, "Session");
        let attach = commands.iter().find(|c| c.name == "attach_media").unwrap();
        assert_eq!(attach.args[2].1, "Channel<AttachProgress>");
        assert_eq!(attach.result, "Array<InstallationMedia>");
        let draft = commands
            .iter()
            .find(|c| c.name == "get_report_draft")
            .unwrap();
        assert_eq!(draft.result, "ReportDraft | null");
    }

    #[test]
    fn imports_name_only_generated_types() {
        let names: Vec<&str> =
            referenced_types("Array<InstallationMedia> | Channel<AttachProgress> | null").collect();
        assert_eq!(names, ["InstallationMedia", "AttachProgress"]);
    }
}
