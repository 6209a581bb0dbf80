//! Fieldbook's one test kit, shared by the server's, the sync engine's and
//! the app's integration tests and benchmarks:
//!
//! - [`TestServer`]: the real `fieldbook-server` on 127.0.0.1 port 0 over a
//!   temp data dir, which can be stopped and resumed on the same address
//!   (the network pulled and plugged back) or restarted from disk;
//! - [`Ops`]: Central Ops acting through the server library (the CLI's path),
//!   and [`TestServer`]'s HTTP helpers acting through the admin API;
//! - [`ProtocolDevice`] and [`TwoTeams`]: a client that speaks the sync
//!   protocol by hand, and the two-team world scope tests need;
//! - test media: real PNG/JPEG bytes, signatures and signed reports;
//! - a device store filled with demo data and a technician signed in
//!   ([`sign_in_demo_technician`]);
//! - [`ThrowawayPostgres`]: a temporary PostgreSQL cluster for the
//!   PostgreSQL storage tests;
//! - several instances behind a round-robin front
//!   ([`TEST_INSTANCES_ENV`]), so every test that starts a [`TestServer`]
//!   runs against them unchanged;
//! - [`ServeProcess`]: the real binary as its own process, for the tests
//!   that kill it or read its settings from a config file.

mod device_store;
mod media;
mod ops;
mod postgres;
mod protocol_device;
mod round_robin;
mod s3;
mod serve_process;
mod server;

pub use device_store::{demo_server_batch, demo_technician, sign_in_demo_technician};
pub use media::{
    drawn_signature, fill_default_template, photo, png_bytes, qr_label_jpeg, qr_label_photo,
    signature_png, signature_strokes, signed_report, signed_templated_report, uk_test_results,
    write_jpeg,
};
pub use ops::Ops;
pub use postgres::{PostgresUnavailable, ThrowawayPostgres, POSTGRES_USER};
pub use protocol_device::{finish, is_applied, start, ProtocolDevice, TwoTeams};
pub use protocol_device::{TECH_A, TECH_A2, TECH_B};
pub use s3::{
    blob_store_args, blob_store_config, test_blob_store, S3Unavailable, ThrowawayS3,
    TEST_BLOB_STORE_ENV,
};
pub use serve_process::{add_user_with_cli, ServeProcess};
pub use server::{
    installation_request, skip_unless_one_instance, skip_unless_sqlite, test_instances,
    testing_on_postgres, TestServer, OPS_USER, PASSWORD, TEST_DATABASE_ENV, TEST_INSTANCES_ENV,
};
