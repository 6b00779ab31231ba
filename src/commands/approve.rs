//! `wemeet-scheduler approve-removals`: lets the daemon cancel the meetings of definitions
//! that vanished all at once (which it holds back in case the directory was unmounted or a
//! deploy went wrong). `approve-changes`: lets it make the changes to booked meetings that no
//! definition made (a new build's default, a config reload), held when there are more than
//! `guard.max_changes`. `approve`: both.

use std::io::Write;
use std::path::Path;

use crate::commands::{Outcome, load_config};
use crate::state;

pub fn run(config_path: Option<&Path>, out: &mut dyn Write) -> anyhow::Result<Outcome> {
    let config = load_config(config_path)?;
    let st = crate::store::read_for(&config.state)?;
    if st.held_removals.is_empty() {
        writeln!(out, "no removals are held back; nothing to approve")?;
        return Ok(Outcome::Clean);
    }
    let approval = state::approval_path(&config.state.file);
    std::fs::write(&approval, st.held_removals.join("\n") + "\n")
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", approval.display()))?;
    writeln!(
        out,
        "approved: the daemon cancels the future meetings of {} removed definition(s) at its next pass (within watch.rescan_interval, or at once after `systemctl reload wemeet-scheduler`):",
        st.held_removals.len()
    )?;
    for d in &st.held_removals {
        writeln!(out, "  - {d}")?;
    }
    Ok(Outcome::Clean)
}

pub fn changes(config_path: Option<&Path>, out: &mut dyn Write) -> anyhow::Result<Outcome> {
    let config = load_config(config_path)?;
    let st = crate::store::read_for(&config.state)?;
    if st.held_changes.is_empty() {
        writeln!(out, "no changes are held back; nothing to approve")?;
        return Ok(Outcome::Clean);
    }
    let approval = state::changes_approval_path(&config.state.file);
    std::fs::write(&approval, st.held_changes.join("\n") + "\n")
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", approval.display()))?;
    writeln!(
        out,
        "approved: the daemon changes the booked meetings of {} definition(s) at its next pass (within watch.rescan_interval, or at once after `systemctl reload wemeet-scheduler`); `plan` lists the changes:",
        st.held_changes.len()
    )?;
    for d in &st.held_changes {
        writeln!(out, "  - {d}")?;
    }
    Ok(Outcome::Clean)
}

/// `approve-removals` and `approve-changes`.
pub fn both(config_path: Option<&Path>, out: &mut dyn Write) -> anyhow::Result<Outcome> {
    run(config_path, out)?;
    changes(config_path, out)
}
