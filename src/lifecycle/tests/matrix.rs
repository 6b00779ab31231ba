//! The lifecycle as a matrix: one row per (phase, event) pair it accepts, each phase reached
//! through the events that lead to it in a real run; a row per pair the module doc says cannot
//! happen and says what is done should one come anyway; and a check that every phase the
//! module declares, with every event it takes, is one or the other.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use Ev::*;

/// A way to a phase: its name, the phase it reaches (as [`show`] writes it), and the events
/// that reach it, for the booking `d`.
#[derive(Clone, Copy)]
struct Start(&'static str, &'static str, fn(&mut Bookings));

const NEW: Start = Start("no record", "Idle", |_| {});
const BOOKED: Start = Start("booked", "Idle", |b| booked(b, "d"));
const FAILED: Start = Start("failed", "Idle", |b| {
    creating(b, "d");
    b.created(key("d"), Err(status(190_004)), now());
});
const HELD_BACK: Start = Start("held back (pending)", "Idle", |b| {
    creating(b, "d");
    b.created(key("d"), Err(held_back()), now());
});
const CANCEL_RECORDED: Start = Start("cancel recorded", "Queued", |b| {
    booked(b, "d");
    Cancel.apply(b);
});
/// A cancel on record when the daemon starts (recorded by the run before, not sent).
const CANCEL_ON_RECORD: Start = Start("cancel on record at start", "Idle", |b| {
    booked(b, "d");
    if let Some(r) = b.records_mut().get_mut(&key("d")) {
        r.change = Some(Box::new(Change::Cancel {
            reason: "gone".into(),
        }));
    }
});
const QUEUED: Start = Start("queued", "Queued", |b| queued(b, "d"));
const CREATING: Start = Start("creating", "Sending(Create)", |b| creating(b, "d"));
const LOOKING_UP: Start = Start("looking up", "Sending(LookUp)", |b| looking_up(b, "d"));
const CANCELLING: Start = Start("cancelling", "Sending(Change)", |b| cancelling(b, "d"));
const UNSURE: Start = Start("create unclear", "Unsure", |b| unsure(b, "d"));
const LOOK_UP_FIRST: Start = Start("looked up first", "Unsure", |b| {
    LookUpFirst.apply(b);
});
const BACKING_OFF: Start = Start("lookup failed", "Unsure(+10)", |b| {
    looking_up(b, "d");
    let e = Err(transport(TransportKind::Timeout));
    b.looked_up(vec![key("d")], e, &HashMap::new(), now());
});
const CHANGE_LOST: Start = Start("cancel lost", "Unsure", |b| {
    cancelling(b, "d");
    Lost.apply(b);
});
const CHANGE_DROPPED: Start = Start("cancel lost, dropped", "Unsure", |b| {
    (CHANGE_LOST.2)(b);
    DropChange.apply(b);
});
const LOOKED_UP: Start = Start("not found", "LookedUp", |b| {
    looking_up(b, "d");
    NotFound.apply(b);
});
const CREATE_WAITING: Start = Start("create rate limited", "Waiting(+300)", |b| {
    creating(b, "d");
    b.created(key("d"), Err(status(190_310)), now());
});
const CHANGE_WAITING: Start = Start("cancel failed for now", "Waiting(+300)", |b| {
    cancelling(b, "d");
    ChangeFailed.apply(b);
});

/// An event, with the arguments it comes with in the rows.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ev {
    Intent,
    LookUpFirst,
    Unsendable,
    DispatchCreate,
    DispatchLookup,
    DispatchChange,
    Created,
    CreateUnclear,
    NotFound,
    Found,
    Changed,
    ChangeFailed,
    Lost,
    Retry,
    Ack,
    Missed,
    Forget,
    Moved,
    Cancel,
    DropChange,
    Rehash,
    Prune,
}

impl Ev {
    const ALL: [Ev; 22] = [
        Intent,
        LookUpFirst,
        Unsendable,
        DispatchCreate,
        DispatchLookup,
        DispatchChange,
        Created,
        CreateUnclear,
        NotFound,
        Found,
        Changed,
        ChangeFailed,
        Lost,
        Retry,
        Ack,
        Missed,
        Forget,
        Moved,
        Cancel,
        DropChange,
        Rehash,
        Prune,
    ];

    /// The method of [`Bookings`] it is.
    fn kind(self) -> &'static str {
        match self {
            Intent | LookUpFirst => "intent",
            Unsendable => "unsendable",
            DispatchCreate => "dispatch_create",
            DispatchLookup => "dispatch_lookup",
            DispatchChange => "dispatch_change",
            Created | CreateUnclear => "created",
            NotFound | Found => "looked_up",
            Changed | ChangeFailed => "changed",
            Lost => "lost",
            Retry => "retry",
            Ack => "acknowledge",
            Missed => "missed",
            Forget => "forget",
            Moved => "moved",
            Cancel => "change",
            DropChange => "drop_change",
            Rehash => "rehash",
            Prune => "prune",
        }
    }

    /// The booking to look at after it: `d`, or where it moved.
    fn key(self) -> BookingKey {
        key(if self == Moved { "new" } else { "d" })
    }

    /// Takes it on `d`'s booking. Returns what it returned, if anything.
    fn apply(self, b: &mut Bookings) -> Option<String> {
        let (d, t) = (key("d"), now());
        Some(match self {
            Intent => b.intent(&wanted("d"), "h2", First::Send, t).to_string(),
            LookUpFirst => {
                let first = First::LookUp { never_sent: true };
                b.intent(&wanted("d"), "h2", first, t).to_string()
            }
            DispatchLookup => b.dispatch_lookup(&[d]).to_string(),
            DispatchCreate => b.dispatch_create(&d).to_string(),
            DispatchChange => format!("{:?}", b.dispatch_change(&d).map(|c| c.change.kind())),
            Retry => b.retry(&[d], "asked", t).to_string(),
            Ack => b.acknowledge(&[d], "asked", t).to_string(),
            Moved => format!(
                "{:?}",
                b.moved(&d, &"new".into(), None).map(|k| k.to_string())
            ),
            Prune => b.prune(START + 7200).to_string(),
            _ => {
                self.take(b);
                return None;
            }
        })
    }

    /// Takes an event that returns nothing.
    fn take(self, b: &mut Bookings) {
        let (d, t, none) = (key("d"), now(), HashMap::new());
        let cancel = Change::Cancel {
            reason: "gone".into(),
        };
        let timeout = || Err(transport(TransportKind::Timeout));
        match self {
            Unsendable => b.unsendable(&d, "no body".into(), t),
            Created => b.created(d, Ok(meeting("d", "m-new")), t),
            CreateUnclear => b.created(d, timeout(), t),
            NotFound => b.looked_up(vec![d], Ok(Vec::new()), &none, t),
            Found => b.looked_up(vec![d], Ok(vec![meeting("d", "m-new")]), &none, t),
            Changed => b.changed(d, Ok(()), Some("h1"), t),
            ChangeFailed => b.changed(d, Err(status(41)), Some("h1"), t),
            Lost => b.lost(&[d]),
            Missed => b.missed(&wanted("d"), "h1", "late".into(), t),
            Forget => b.forget(&d),
            Cancel => b.change(&d, cancel, t),
            DropChange => b.drop_change(&d, "back as it was"),
            Rehash => b.rehash(&d, "h2"),
            _ => unreachable!("{self:?} returns something: Ev::apply takes it"),
        }
    }
}

/// The phase, with its time as seconds after `now()`.
fn show(p: Phase) -> String {
    let after = |t: DateTime<Utc>| t.timestamp() - T0;
    match p {
        Phase::Idle => "Idle".into(),
        Phase::Queued => "Queued".into(),
        Phase::Sending(r) => format!("Sending({r:?})"),
        Phase::Unsure { not_before: None } => "Unsure".into(),
        Phase::Unsure {
            not_before: Some(t),
        } => format!("Unsure(+{})", after(t)),
        Phase::LookedUp => "LookedUp".into(),
        Phase::Waiting { until } => format!("Waiting(+{})", after(until)),
    }
}

/// The phase's column of the matrix: without its time.
fn column(shown: &str) -> &str {
    shown.split("(+").next().unwrap_or(shown)
}

/// The record: its status, create calls and definition hash, and whether a change is on it.
fn on_record(b: &Bookings, key: &BookingKey) -> String {
    match b.records().get(key) {
        None => "none".into(),
        Some(r) => {
            let status = format!("{:?}", r.status).to_lowercase();
            let change = if r.change.is_some() { " change" } else { "" };
            let acked = if r.acknowledged.is_some() {
                " acked"
            } else {
                ""
            };
            format!(
                "{status} {} {}{change}{acked}",
                r.attempts, r.definition_hash
            )
        }
    }
}

/// (from, the event, the phase after, the record after, what the event returned then the
/// outputs, with the bookings' keys written without their start)
type Row = (Start, Ev, Str, Str, &'static [Str]);
type Str = &'static str;

/// The pairs the lifecycle accepts.
#[rustfmt::skip]
const ROWS: &[Row] = &[
    // Idle: a booking nothing is done about (no record, or one the plan decides on).
    (NEW, Intent, "Queued", "pending 0 h2", &["true"]),
    (NEW, LookUpFirst, "Unsure", "pending 0 h2", &["false"]),
    (FAILED, Intent, "Queued", "pending 1 h2", &["true"]),
    (HELD_BACK, Intent, "Queued", "pending 0 h2", &["true"]),
    (CANCEL_ON_RECORD, DispatchChange, "Sending(Change)", "booked 1 h1 change", &["Some(Cancel)"]),
    (BOOKED, DispatchChange, "Idle", "booked 1 h1", &["None"]),
    (FAILED, Retry, "Unsure", "pending 0 h1", &["1"]),
    (FAILED, Ack, "Idle", "failed 1 h1 acked", &["1"]),
    (BOOKED, Retry, "Idle", "booked 1 h1", &["0"]),
    (BOOKED, Ack, "Idle", "booked 1 h1", &["0"]),
    (NEW, Missed, "Idle", "missed 0 h1", &["missed d"]),
    (HELD_BACK, Missed, "Idle", "missed 0 h1", &["missed d"]),
    (HELD_BACK, Forget, "Idle", "none", &[]),
    (BOOKED, Cancel, "Queued", "booked 1 h1 change", &[]),
    (CANCEL_ON_RECORD, DropChange, "Idle", "booked 1 h1", &[]),
    (BOOKED, Rehash, "Idle", "booked 1 h2", &[]),
    (BOOKED, Prune, "Idle", "none", &["1"]),
    (HELD_BACK, Prune, "Idle", "pending 0 h1", &["0"]),
    // Queued.
    (QUEUED, Unsendable, "Unsure", "pending 0 h1", &["pass"]),
    (QUEUED, DispatchCreate, "Sending(Create)", "pending 1 h1", &["true"]),
    (QUEUED, Retry, "Queued", "pending 0 h1", &["0"]),
    (QUEUED, Ack, "Queued", "pending 0 h1", &["0"]),
    (QUEUED, Prune, "Queued", "pending 0 h1", &["0"]),
    (CANCEL_RECORDED, DispatchChange, "Sending(Change)", "booked 1 h1 change", &["Some(Cancel)"]),
    // Sending(Create).
    (CREATING, Created, "Idle", "booked 1 h1", &["booked d adopted=false"]),
    (CREATING, CreateUnclear, "Unsure", "pending 1 h1", &["pass"]),
    (CREATING, Lost, "Unsure", "pending 1 h1", &["pass"]),
    (CREATING, Retry, "Sending(Create)", "pending 1 h1", &["0"]),
    (CREATING, Ack, "Sending(Create)", "pending 1 h1", &["0"]),
    (CREATING, Prune, "Sending(Create)", "pending 1 h1", &["0"]),
    // Sending(LookUp).
    (LOOKING_UP, NotFound, "LookedUp", "pending 1 h1", &["pass"]),
    (LOOKING_UP, Found, "Idle", "booked 1 h1", &["pass", "booked d adopted=true"]),
    (LOOKING_UP, Lost, "Unsure", "pending 1 h1", &["pass"]),
    (LOOKING_UP, Retry, "Sending(LookUp)", "pending 1 h1", &["0"]),
    (LOOKING_UP, Ack, "Sending(LookUp)", "pending 1 h1", &["0"]),
    (LOOKING_UP, Prune, "Sending(LookUp)", "pending 1 h1", &["0"]),
    // Sending(Change).
    (CANCELLING, Changed, "Idle", "cancelled 1 h1", &["cancelled: gone d", "pass"]),
    (CANCELLING, ChangeFailed, "Waiting(+300)", "booked 1 h1 change", &["wake +300"]),
    (CANCELLING, Lost, "Unsure", "booked 1 h1 change", &["pass"]),
    (CANCELLING, Retry, "Sending(Change)", "booked 1 h1 change", &["0"]),
    (CANCELLING, Ack, "Sending(Change)", "booked 1 h1 change", &["0"]),
    (CANCELLING, Prune, "Sending(Change)", "booked 1 h1 change", &["0"]),
    // Unsure: a create that may have happened (or a change that may have been sent).
    (UNSURE, DispatchLookup, "Sending(LookUp)", "pending 1 h1", &["true"]),
    (BACKING_OFF, DispatchLookup, "Sending(LookUp)", "pending 1 h1", &["true"]),
    (LOOK_UP_FIRST, DispatchLookup, "Sending(LookUp)", "pending 0 h2", &["false"]),
    (LOOK_UP_FIRST, Unsendable, "Unsure", "pending 0 h2", &["pass"]),
    (CHANGE_LOST, DispatchChange, "Sending(Change)", "booked 1 h1 change", &["Some(Cancel)"]),
    (UNSURE, Retry, "Unsure", "pending 1 h1", &["0"]),
    (UNSURE, Ack, "Unsure", "pending 1 h1", &["0"]),
    (UNSURE, Missed, "Idle", "missed 1 h1", &["missed d"]),
    (UNSURE, Forget, "Idle", "none", &[]),
    (UNSURE, Moved, "Unsure", "pending 1 h1", &["Some(\"new\")", "pass"]),
    (CHANGE_DROPPED, Cancel, "Unsure", "booked 1 h1 change", &[]),
    (CHANGE_LOST, DropChange, "Unsure", "booked 1 h1", &[]),
    (CHANGE_DROPPED, Rehash, "Unsure", "booked 1 h2", &[]),
    (UNSURE, Prune, "Unsure", "pending 1 h1", &["0"]),
    // LookedUp: not found, to be created again.
    (LOOKED_UP, Intent, "Queued", "pending 1 h2", &["true"]),
    (LOOKED_UP, Retry, "LookedUp", "pending 1 h1", &["0"]),
    (LOOKED_UP, Ack, "LookedUp", "pending 1 h1", &["0"]),
    (LOOKED_UP, Missed, "Idle", "missed 1 h1", &["missed d"]),
    (LOOKED_UP, Forget, "Idle", "none", &[]),
    (LOOKED_UP, Prune, "LookedUp", "pending 1 h1", &["0"]),
    // Waiting: a create or a change that failed for now.
    (CREATE_WAITING, Intent, "Queued", "pending 1 h2", &["true"]),
    (CHANGE_WAITING, DispatchChange, "Sending(Change)", "booked 1 h1 change", &["Some(Cancel)"]),
    (CREATE_WAITING, Retry, "Waiting(+300)", "pending 1 h1", &["0"]),
    (CREATE_WAITING, Ack, "Waiting(+300)", "pending 1 h1", &["0"]),
    (CREATE_WAITING, Missed, "Idle", "missed 1 h1", &["missed d"]),
    (CREATE_WAITING, Forget, "Idle", "none", &[]),
    (CHANGE_WAITING, DropChange, "Waiting(+300)", "booked 1 h1", &[]),
    (CREATE_WAITING, Prune, "Waiting(+300)", "pending 1 h1", &["0"]),
    (CHANGE_WAITING, Prune, "Waiting(+300)", "booked 1 h1 change", &["0"]),
];

/// Pairs the module doc says cannot happen, and says what is done should one come anyway: a
/// create's or change's answer is taken, a lookup's is dropped, an answer for a key with no
/// record is dropped, and a booking a lost request was not about is looked up.
#[rustfmt::skip]
const FALLBACKS: &[Row] = &[
    // A create that is not queued: nothing is sent (a create never goes twice).
    (NEW, DispatchCreate, "Idle", "none", &["false"]),
    (BOOKED, DispatchCreate, "Idle", "booked 1 h1", &["false"]),
    (CREATING, DispatchCreate, "Sending(Create)", "pending 1 h1", &["false"]),
    (LOOKING_UP, DispatchCreate, "Sending(LookUp)", "pending 1 h1", &["false"]),
    (CANCELLING, DispatchCreate, "Sending(Change)", "booked 1 h1 change", &["false"]),
    (UNSURE, DispatchCreate, "Unsure", "pending 1 h1", &["false"]),
    (LOOKED_UP, DispatchCreate, "LookedUp", "pending 1 h1", &["false"]),
    (CREATE_WAITING, DispatchCreate, "Waiting(+300)", "pending 1 h1", &["false"]),
    // A change queued twice: it is on its way once, and nothing more is sent.
    (CANCELLING, DispatchChange, "Sending(Change)", "booked 1 h1 change", &["None"]),
    (CREATING, DispatchChange, "Sending(Create)", "pending 1 h1", &["None"]),
    (LOOKING_UP, DispatchChange, "Sending(LookUp)", "pending 1 h1", &["None"]),
    // A create's answer: taken (it is certain about the meeting), but for a key with no record.
    (NEW, Created, "Idle", "none", &[]),
    (HELD_BACK, Created, "Idle", "booked 0 h1", &["booked d adopted=false"]),
    (QUEUED, Created, "Idle", "booked 0 h1", &["booked d adopted=false"]),
    (LOOKING_UP, Created, "Idle", "booked 1 h1", &["booked d adopted=false"]),
    (CANCELLING, Created, "Idle", "booked 1 h1 change", &["booked d adopted=false"]),
    (UNSURE, Created, "Idle", "booked 1 h1", &["booked d adopted=false"]),
    (LOOKED_UP, Created, "Idle", "booked 1 h1", &["booked d adopted=false"]),
    (CREATE_WAITING, Created, "Idle", "booked 1 h1", &["booked d adopted=false"]),
    // A lookup's answer: dropped (the booking moved on), with the pass it asks for.
    (NEW, NotFound, "Idle", "none", &["pass"]),
    (HELD_BACK, NotFound, "Idle", "pending 0 h1", &["pass"]),
    (QUEUED, NotFound, "Queued", "pending 0 h1", &["pass"]),
    (CREATING, NotFound, "Sending(Create)", "pending 1 h1", &["pass"]),
    (CANCELLING, NotFound, "Sending(Change)", "booked 1 h1 change", &["pass"]),
    (UNSURE, NotFound, "Unsure", "pending 1 h1", &["pass"]),
    (UNSURE, Found, "Unsure", "pending 1 h1", &["pass"]),
    (LOOKED_UP, NotFound, "LookedUp", "pending 1 h1", &["pass"]),
    (CREATE_WAITING, NotFound, "Waiting(+300)", "pending 1 h1", &["pass"]),
    // A change's answer: taken, but for a key with no record; for a booking without a change
    // on record it has nothing to take, and leaves the booking as it is (an unsure one is
    // still looked up before it is created again).
    (NEW, Changed, "Idle", "none", &[]),
    (CANCEL_RECORDED, Changed, "Idle", "cancelled 1 h1", &["cancelled: gone d", "pass"]),
    (QUEUED, Changed, "Queued", "pending 0 h1", &[]),
    (CREATING, Changed, "Sending(Create)", "pending 1 h1", &[]),
    (LOOKING_UP, Changed, "Sending(LookUp)", "pending 1 h1", &[]),
    (UNSURE, Changed, "Unsure", "pending 1 h1", &[]),
    (CHANGE_LOST, Changed, "Idle", "cancelled 1 h1", &["cancelled: gone d", "pass"]),
    (LOOKED_UP, Changed, "LookedUp", "pending 1 h1", &[]),
    (CREATE_WAITING, Changed, "Waiting(+300)", "pending 1 h1", &[]),
    (CHANGE_WAITING, Changed, "Idle", "cancelled 1 h1", &["cancelled: gone d", "pass"]),
    // A request lost that was not about the booking: it is looked up all the same.
    (HELD_BACK, Lost, "Unsure", "pending 0 h1", &["pass"]),
    (QUEUED, Lost, "Unsure", "pending 0 h1", &["pass"]),
    (BACKING_OFF, Lost, "Unsure", "pending 1 h1", &["pass"]),
    (LOOKED_UP, Lost, "Unsure", "pending 1 h1", &["pass"]),
    (CHANGE_WAITING, Lost, "Unsure", "booked 1 h1 change", &["pass"]),
];

/// The columns: the phases, [`Phase::Sending`] once per request.
const PHASES: &[&str] = &[
    "Idle",
    "Queued",
    "Sending(Create)",
    "Sending(LookUp)",
    "Sending(Change)",
    "Unsure",
    "LookedUp",
    "Waiting",
];
const BUSY: &[&str] = &[
    "Queued",
    "Sending(Create)",
    "Sending(LookUp)",
    "Sending(Change)",
];

/// The pairs that cannot happen: (phases, events, the words of the module doc that say why,
/// whether the doc says what is done should one come anyway: then [`FALLBACKS`] has a row for
/// each).
#[rustfmt::skip]
const IMPOSSIBLE: &[(&[&str], &[&str], &str, bool)] = &[
    (&["Idle", "Queued", "Sending(LookUp)", "Sending(Change)", "Unsure", "LookedUp", "Waiting"], &["created"],
        "an answer for a booking that is not [`Phase::Sending`] that request", true),
    (&["Idle", "Queued", "Sending(Create)", "Sending(Change)", "Unsure", "LookedUp", "Waiting"], &["looked_up"],
        "an answer for a booking that is not [`Phase::Sending`] that request", true),
    (&["Idle", "Queued", "Sending(Create)", "Sending(LookUp)", "Unsure", "LookedUp", "Waiting"], &["changed"],
        "an answer for a booking that is not [`Phase::Sending`] that request", true),
    (&["Idle", "Queued", "Unsure", "LookedUp", "Waiting"], &["lost"],
        "should it come for another, that booking is looked up all the same", true),
    (BUSY, &["intent", "missed", "forget", "moved", "change", "drop_change", "rehash"],
        "a step of the plan for a busy booking", false),
    (&["Sending(Create)", "Sending(LookUp)", "Sending(Change)"], &["dispatch_change"],
        "a `dispatch_change` for a booking already [`Phase::Sending`]", true),
    (&["Idle", "Sending(Create)", "Sending(LookUp)", "Sending(Change)", "Unsure", "LookedUp", "Waiting"],
        &["dispatch_create"], "`dispatch_create` sends a [`Phase::Queued`]", true),
    (&["Idle", "Sending(Create)", "Sending(LookUp)", "Sending(Change)", "LookedUp", "Waiting"], &["unsendable"],
        "`unsendable` is only the create that `intent` has just queued (or marked unsure)", false),
    (&["Idle", "Queued", "Sending(Create)", "Sending(LookUp)", "Sending(Change)", "LookedUp", "Waiting"],
        &["dispatch_lookup"], "`dispatch_lookup` looks up an [`Phase::Unsure`] booking only", false),
    (&["Unsure"], &["intent"], "The plan never creates (`intent`) an unsure booking", false),
    (&["Idle", "LookedUp", "Waiting"], &["moved"], "moves (`moved`) only unsure ones", false),
    (&["LookedUp"], &["change", "rehash", "dispatch_change", "drop_change"],
        "which are never [`Phase::LookedUp`]", false),
    (&["Waiting"], &["change", "rehash"],
        "[`Phase::Waiting`] only with a change on record (`change` and `rehash` come only for a meeting without one)",
        false),
];

/// The methods of [`Bookings`] taking `&mut self` that are no event of the lifecycle.
const NOT_EVENTS: &[&str] = &[
    "set_rules",   // the config's rules, for what comes next
    "poll",        // the outputs going out
    "drain",       // likewise
    "records_mut", // the ledger, for writing it and for request bodies
    "keep_links",  // a modify's links read from the store, kept with the record
];

/// Runs `rows`: each from its start, then its event, against the phase, record and outputs
/// it expects.
fn run(rows: &[Row]) {
    for &(Start(from, before, go), ev, phase, on_rec, outs) in rows {
        let name = format!("{from} ({before}) + {ev:?}");
        let mut b = fresh();
        go(&mut b);
        assert_eq!(show(b.phase(&key("d"))), before, "{name}: the start");
        b.drain();
        let returned = ev.apply(&mut b);
        assert_eq!(show(b.phase(&ev.key())), phase, "{name}: the phase after");
        assert_eq!(on_record(&b, &ev.key()), on_rec, "{name}: the record after");
        let at_start = format!("@{START}");
        let got: Vec<String> = returned
            .into_iter()
            .chain(outputs(&mut b))
            .map(|o| o.replace(&at_start, ""))
            .collect();
        assert_eq!(got, outs, "{name}: returned, then the outputs");
        if ev == Moved {
            assert_eq!(on_record(&b, &key("d")), "none", "{name}: the old key");
            assert!(b.live(&key("d")).is_none(), "{name}: the old key");
        }
    }
}

#[test]
fn every_pair_the_lifecycle_accepts() {
    run(ROWS);
}

#[test]
fn every_pair_that_cannot_happen_and_what_is_done_if_it_does() {
    run(FALLBACKS);
}

/// The module doc as one line.
fn module_doc() -> String {
    let src = include_str!("../mod.rs");
    let lines = src.lines().filter_map(|l| l.strip_prefix("//!"));
    lines.map(str::trim).collect::<Vec<_>>().join(" ")
}

/// The variants of `pub enum name` in `src`, each with its payload when it is a tuple one:
/// `Idle`, `Sending(Request)`.
fn variants(src: &str, name: &str) -> Vec<String> {
    let body = &src[src.find(&format!("pub enum {name} {{")).unwrap()..];
    let body = &body[..body.find("\n}").unwrap()];
    body.lines()
        .skip(1)
        .map(str::trim)
        .filter(|l| l.starts_with(|c: char| c.is_ascii_uppercase()))
        .map(|l| match l.find(['(', ' ', ',']) {
            Some(at) if l[at..].starts_with('(') => l[..=l.find(')').unwrap()].to_string(),
            Some(at) => l[..at].to_string(),
            None => l.to_string(),
        })
        .collect()
}

/// The phases the module declares, [`Phase::Sending`] once per [`Request`].
fn declared_phases() -> BTreeSet<String> {
    let src = include_str!("../mod.rs");
    let requests = variants(src, "Request");
    let mut out = BTreeSet::new();
    for v in variants(src, "Phase") {
        match v.strip_suffix("(Request)") {
            Some(sending) => out.extend(requests.iter().map(|r| format!("{sending}({r})"))),
            None => {
                out.insert(v);
            }
        }
    }
    out
}

/// The public methods of [`Bookings`] taking `&mut self`.
fn declared_methods() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for src in [include_str!("../mod.rs"), include_str!("../answers.rs")] {
        for (at, _) in src.match_indices("pub fn ") {
            let rest = &src[at + "pub fn ".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let args = &rest[rest.find('(').unwrap() + 1..];
            if args.trim_start().starts_with("&mut self") {
                out.insert(name);
            }
        }
    }
    out
}

/// Every phase the module declares, with every event it takes, has a row or is named in the
/// module doc as a pair that cannot happen (with a row for what is done anyway, where the doc
/// says): a new phase, or a new event, fails here until the matrix has it.
#[test]
fn the_matrix_is_complete() {
    let phases = declared_phases();
    assert_eq!(
        phases,
        PHASES.iter().map(|p| p.to_string()).collect(),
        "the phases"
    );
    let events: BTreeSet<&str> = Ev::ALL.iter().map(|e| e.kind()).collect();
    let methods = declared_methods();
    let known: BTreeSet<String> = events
        .iter()
        .chain(NOT_EVENTS)
        .map(|s| s.to_string())
        .collect();
    assert_eq!(methods, known, "the events of Bookings");

    // Each row's cell, from the phase its start reaches.
    let cell = |&(Start(_, _, go), ev, ..): &Row| {
        let mut b = fresh();
        go(&mut b);
        (column(&show(b.phase(&key("d")))).to_string(), ev.kind())
    };
    let accepted: BTreeSet<(String, &str)> = ROWS.iter().map(cell).collect();
    let fallbacks: BTreeSet<(String, &str)> = FALLBACKS.iter().map(cell).collect();
    let doc = module_doc();
    let mut impossible = BTreeMap::new();
    for &(in_phases, of_events, why, fallback) in IMPOSSIBLE {
        assert!(doc.contains(why), "the module doc says {why:?}");
        for p in in_phases {
            assert!(phases.contains(*p), "{p} is a phase");
            for e in of_events {
                assert!(events.contains(e), "{e} is an event");
                let earlier = impossible.insert((p.to_string(), *e), fallback);
                assert!(earlier.is_none(), "({p}, {e}) is said impossible once");
            }
        }
    }

    for p in &phases {
        for e in &events {
            let pair = (p.clone(), *e);
            match (accepted.contains(&pair), impossible.get(&pair)) {
                (true, None) => {}
                (false, Some(fallback)) => assert!(
                    !fallback || fallbacks.contains(&pair),
                    "({p}, {e}): no row for what is done should it come anyway"
                ),
                (true, Some(_)) => panic!("({p}, {e}) has a row, and is said impossible"),
                (false, None) => panic!("({p}, {e}) has no row, and is not said impossible"),
            }
        }
    }
    for pair in &fallbacks {
        assert_eq!(
            impossible.get(pair),
            Some(&true),
            "{pair:?} is a fallback row"
        );
    }
}
