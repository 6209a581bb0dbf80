//! The Fieldbook desktop app. Everything lives in the library so the command
//! bodies can be tested without a window.
// No console window next to the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    fieldbook_app::run();
}
