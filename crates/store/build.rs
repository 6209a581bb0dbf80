//! Embeds every `migrations/NNNN_name.sql` of the workspace into the store at
//! build time, so adding a migration is adding a file (no list to keep in step).

use std::fmt::Write as _;
use std::path::Path;
use std::{env, fs};

fn main() {
    // Read at run time, not with env!(): a build-script binary reused by
    // another clone sharing the target dir would otherwise read this clone's
    // migrations.
    let manifest_dir = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&manifest_dir).join("../../migrations");
    println!("cargo:rerun-if-changed={}", dir.display());

    let mut files: Vec<(u32, String)> = Vec::new();
    for entry in fs::read_dir(&dir).expect("read migrations/") {
        let path = entry.expect("read migrations/ entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".sql") {
            continue;
        }
        println!("cargo:rerun-if-changed={}", path.display());
        let number = name
            .get(..4)
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()) && name.as_bytes()[4] == b'_')
            .unwrap_or_else(|| panic!("migration `{name}` is not named NNNN_name.sql"));
        files.push((number.parse().unwrap(), name));
    }
    files.sort();
    for (index, (number, name)) in files.iter().enumerate() {
        // user_version is the number of the last applied migration, so the
        // numbers must run 1, 2, 3… without gaps or duplicates.
        assert_eq!(
            *number as usize,
            index + 1,
            "migration `{name}` breaks the 0001, 0002, … sequence"
        );
    }

    let mut out = String::from("pub(crate) static MIGRATIONS: &[Migration] = &[\n");
    for (number, name) in &files {
        let abs = dir.join(name).canonicalize().expect("canonical path");
        writeln!(
            out,
            "    Migration {{ version: {number}, name: {name:?}, sql: include_str!({abs:?}) }},"
        )
        .unwrap();
    }
    out.push_str("];\n");
    let dest = Path::new(&env::var("OUT_DIR").unwrap()).join("migrations.rs");
    fs::write(dest, out).expect("write migrations.rs");
}
