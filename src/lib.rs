//! wemeet-scheduler books Tencent Meeting (WeMeet) meetings from TOML files.
//!
//! Ops people drop meeting definitions into a directory; the scheduler turns each one, and
//! every occurrence of a recurring cron rule, into a create-meeting request.
//!
//! ```text
//! meetings.d/*.toml --scan--> definitions --schedule (cron, tz)--> wanted bookings --> request
//! ```
//!
//! Modules, in the order data flows through them (each uses only those above it):
//!
//! - [`diagnostic`]: problems in a file as `path:line:column: message; hint`.
//! - [`toml_reader`]: typed reads from a spanned TOML tree that collect every problem.
//! - [`meeting`]: the API's vocabulary: device types, meeting types, users, settings.
//! - [`config`]: the daemon config; its `[defaults]` feed every definition.
//! - [`schedule`]: a cron rule in a time zone -> occurrence start times.
//! - [`definition`]: one file -> a validated [`definition::Definition`].
//! - [`scan`]: the watch dir -> every definition file, read and validated.
//! - [`api`]: the REST API: wire models, signing, errors, the paced and retried client.
//! - [`fake_api`]: a fake of the REST API that checks signatures and injects faults, for the
//!   demo, the tests and the benchmarks.
//! - [`plan`]: definitions + now -> wanted bookings keyed by (definition, start). Pure.
//! - [`commands`]: `validate` and `plan`, writing to the writers they are given.
//! - [`logging`]: the `tracing` subscriber.

pub mod api;
pub mod booking;
pub mod clock;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod definition;
pub mod diagnostic;
pub mod fake_api;
pub mod logging;
pub mod meeting;
pub mod plan;
pub mod scan;
pub mod schedule;
pub mod state;
pub mod toml_reader;
pub mod watch;
