//! `wemeet-scheduler approve-removals`: lets the daemon cancel the meetings of definitions
//! that vanished all at once (which it holds back in case the directory was unmounted or a
//! deploy went wrong). `approve-changes`: lets it make the changes to booked meetings that no
//! definition made (a new build's default, a config reload), held when there are more than
//! `guard.max_changes`. `approve`: both.

use std::io::Write;
use std::path::Path;

use crate::commands::{Outcome, load_config};
use crate::config::Config;
use crate::store::RequestKind;

/// What an approval lets go.
struct Held<'a> {
    /// The definitions held back.
    definitions: &'a [String],
    /// The request the daemon reads the approval from.
    kind: RequestKind,
    /// Said when nothing is held: "removals", "changes".
    what: &'static str,
    /// Said after "approved: the daemon ", with the count of definitions.
    does: &'static str,
}

/// Leaves the approval of `held` in the store for the daemon and says what it lets go.
fn approve(config: &Config, held: Held<'_>, out: &mut dyn Write) -> anyhow::Result<Outcome> {
    if held.definitions.is_empty() {
        writeln!(out, "no {} are held back; nothing to approve", held.what)?;
        return Ok(Outcome::Clean);
    }
    crate::store::ask(&config.state, held.kind, held.definitions)?;
    writeln!(
        out,
        "approved: the daemon {} of {} definition(s) at its next pass (within watch.rescan_interval, or at once after `systemctl reload wemeet-scheduler`):",
        held.does,
        held.definitions.len()
    )?;
    for d in held.definitions {
        writeln!(out, "  - {d}")?;
    }
    Ok(Outcome::Clean)
}

pub fn run(config_path: Option<&Path>, out: &mut dyn Write) -> anyhow::Result<Outcome> {
    let config = load_config(config_path)?;
    let st = crate::store::read_for(&config.state)?;
    approve(
        &config,
        Held {
            definitions: &st.held_removals,
            kind: RequestKind::ApproveRemovals,
            what: "removals",
            does: "cancels the future meetings",
        },
        out,
    )
}

pub fn changes(config_path: Option<&Path>, out: &mut dyn Write) -> anyhow::Result<Outcome> {
    let config = load_config(config_path)?;
    let st = crate::store::read_for(&config.state)?;
    approve(
        &config,
        Held {
            definitions: &st.held_changes,
            kind: RequestKind::ApproveChanges,
            what: "changes",
            does: "makes the held changes (`plan` lists them) to the booked meetings",
        },
        out,
    )
}

/// `approve-removals` and `approve-changes`.
pub fn both(config_path: Option<&Path>, out: &mut dyn Write) -> anyhow::Result<Outcome> {
    run(config_path, out)?;
    changes(config_path, out)
}
