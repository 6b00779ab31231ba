//! `wemeet-scheduler ack [DEFINITION|GLOB|KEY ...] [--all]`: tells that failed or missed
//! bookings, or live meetings whose cancel the service refused, need no one any more. They
//! stay on record as they are (`status` shows them, marked), and no longer make `status` and
//! `once` exit 1 or count in `wemeet_attention`. It reaches the daemon as `retry` does
//! ([`super::retry::Act`]).

use std::io::Write;
use std::path::Path;

use super::retry::Act;
use crate::commands::Outcome;
use crate::ledger::Ledger;
use crate::state::Record;
use crate::store::RequestKind;

pub fn run(
    config_path: Option<&Path>,
    selectors: &[String],
    all: bool,
    out: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    Act {
        verb: "acknowledge",
        every: "--all",
        kind: RequestKind::Ack,
        takes: Record::needs_a_person,
        apply: Ledger::acknowledge,
        none: "no failed or missed booking, or live meeting whose cancel was refused, that needs a person matches; nothing to acknowledge",
        done: "acknowledged; they stay on record and need no one any more",
    }
    .run(config_path, selectors, all, out)
}
