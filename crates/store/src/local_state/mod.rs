//! Rules over several tables that both the technician's actions and the
//! applying of server answers need: rebuilding an installation's local view
//! (server state plus pending mutations) and letting a job that left this
//! device's scope go once nothing about it is unsent. Uses rows only; never
//! opens a transaction (it runs in its caller's).

pub(crate) mod left_scope;
pub(crate) mod rebase;
