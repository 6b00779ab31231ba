//! wemeet-scheduler books Tencent Meeting (WeMeet) meetings from TOML files.
//!
//! Ops people drop meeting definitions into a directory; the daemon turns each one, and every
//! occurrence of a recurring cron rule, into a signed create-meeting request, retries with
//! backoff, and records the meeting ids it gets back, booking each occurrence exactly once;
//! edited and removed definitions modify or cancel what was booked.
//!
//! ```text
//! meetings.d/*.toml --watch+rescan--> definitions --schedule (cron, tz)--> wanted bookings
//!       state file <--record-- reconcile (wanted vs recorded) --create/modify/cancel--> WeMeet API
//! ```
//!
//! Modules, in the order data flows through them (each uses only those above it):
//!
//! - [`diagnostic`]: problems in a file as `path:line:column: message; hint`.
//! - [`toml_reader`]: typed reads from a spanned TOML tree that collect every problem.
//! - [`metrics`]: Prometheus metrics and the `/metrics`, `/healthz`, `/readyz` server.
//! - [`meeting`]: the API's vocabulary: device types, meeting types, users, settings.
//! - [`booking`]: a booking's key (definition, occurrence start) and status.
//! - [`config`]: the daemon config; its `[defaults]` feed every definition.
//! - [`schedule`]: a cron rule in a time zone -> occurrence start times.
//! - [`definition`]: one file -> a validated [`definition::Definition`].
//! - [`scan`]: a directory -> every definition file, read and validated (`validate`, `plan`).
//! - [`state`]: what is on record about bookings (records, the daemon's values), and the
//!   version 1 JSON state file format that the store imports.
//! - [`lease`]: how long a leader on a shared store may still send: checked by the API
//!   client before every request.
//! - [`api`]: the REST API: wire models, signing, errors, the paced and retried client.
//! - [`plan`]: definitions + recorded bookings + now -> wanted bookings and the actions to
//!   take. Pure.
//! - [`ledger`]: the records the daemon works with, and which of them changed since the
//!   store last wrote them.
//! - [`lifecycle`]: what each step and each API answer does to a booking: the booking's
//!   phases as a state machine over the ledger. Sans-IO: events in, outputs out.
//! - [`store`]: where the records live between runs: a locked SQLite database written in
//!   batches of changed rows (import, backup, restore), or a PostgreSQL database shared by
//!   daemons of which one leads.
//! - [`calendar`]: booked meetings as an RFC 5545 calendar (`export ics`, `/calendar.ics`).
//! - [`clock`]: wall-clock time, injectable for tests.
//! - [`memory`]: freed memory given back to the system after the large passes.
//! - [`quota`]: the vendor's hourly create quota per user, kept before sending.
//! - [`watch`]: the watch directory kept current from file events and rescans.
//! - [`watcher`]: file events for the watch directory, debounced into what the loop reads.
//! - [`notifications`]: booked, changed, cancelled, failed, missed and held meetings told to
//!   WeCom robots, Slack and webhooks, never delaying a booking.
//! - [`notifier`]: what the daemon tells systemd (`READY=1`, `STATUS=`, ...), never blocking.
//! - [`daemon`]: the loop that ties them together: watch, reconcile, book, record; signals.
//! - [`commands`]: `validate`, `plan`, `run`, `once`, `status`, `retry`, `recover`,
//!   `approve-removals`, `state backup|restore`, `export ics`, `demo`, `fake-api` (the fake itself is the workspace's
//!   `wemeet-fake-api` crate; `completions` and `man` are in
//!   `main.rs`: they only print the CLI's own description).
//! - [`logging`]: the `tracing` subscriber.

pub mod api;
pub mod booking;
pub mod calendar;
pub mod clock;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod definition;
pub mod diagnostic;
pub mod lease;
pub mod ledger;
pub mod lifecycle;
pub mod logging;
pub mod meeting;
pub mod memory;
pub mod metrics;
pub mod notifications;
pub mod notifier;
pub mod plan;
pub mod quota;
pub mod scan;
pub mod schedule;
pub mod state;
pub mod store;
pub mod toml_reader;
pub mod watch;
pub mod watcher;
