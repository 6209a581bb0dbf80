// The ops console (console/dist) is embedded with rust-embed: rebuild the
// server when a console build lands, changes, or appears for the first time.
// (A rerun-if-changed on a path that does not exist would rebuild the server
// on every cargo run, hence the fallbacks.)
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    for watched in ["../console/dist", "../console"] {
        if Path::new(watched).exists() {
            println!("cargo:rerun-if-changed={watched}");
            break;
        }
    }
}
