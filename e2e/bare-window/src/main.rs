//! One Tauri window showing a static page, started exactly like the app (the
//! same window size, the same asset protocol): the baseline of the
//! cold-start measurement.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    tauri::Builder::default()
        .run(tauri::generate_context!())
        .expect("the bare window failed to start");
}
