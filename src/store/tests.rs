use super::*;
use crate::booking::{BookingKey, Status};
use crate::ledger::{Ledger, tests::record};
use crate::state::{Change, InvalidFile, QuotaWait, RecordedRequest};

fn sample() -> State {
    State {
        version: state::VERSION,
        last_pass: Some(5),
        bookings: vec![
            record("a", 1, Status::Booked),
            record("b", 2, Status::Pending),
            Record {
                change: Some(Box::new(Change::Modify {
                    fields: [crate::meeting::Field::Subject("x".into())]
                        .into_iter()
                        .collect(),
                    start: 3,
                    end: 4,
                    request: RecordedRequest::of(&serde_json::json!({"subject": "x"})).unwrap(),
                    definition_hash: "h2".into(),
                })),
                request: serde_json::value::to_raw_value(&serde_json::json!({"subject": "y"}))
                    .ok()
                    .map(RecordedRequest),
                ..record("c", 3, Status::Booked)
            },
            Record {
                change: Some(Box::new(Change::Cancel {
                    reason: "gone".into(),
                })),
                ..record("d", 4, Status::Booked)
            },
        ],
        invalid: vec![
            InvalidFile {
                path: "/srv/meetings.d/a.toml".into(),
                problems: vec!["/srv/meetings.d/a.toml:1:11: expected a string".into()],
            },
            InvalidFile {
                path: "/srv/meetings.d/team/b.toml".into(),
                problems: vec![
                    "/srv/meetings.d/team/b.toml:3:12: `duration` is missing".into(),
                    "/srv/meetings.d/team/b.toml:4:12: `password` must be 4 to 6 digits".into(),
                ],
            },
        ],
        invalid_in_meta: false,
        held_removals: vec!["gone".into()],
        waiting: vec![QuotaWait {
            userid: "ops-bot".into(),
            bookings: 3000,
            until: 7,
            reason: "ops-bot's hourly create quota".into(),
        }],
        paused: vec!["team/standup".into()],
        look_up_until: Some(1_900_000_000),
        month: Some(state::MonthCount {
            month: "2030-03".into(),
            creates: 7,
            refused_until: Some(1_900_000_000),
        }),
        held_changes: vec!["team/weekly".into()],
    }
}

use crate::state::Record;

/// Writes one batch, which must succeed.
fn commit(store: &mut Store, rows: Vec<Write<'_>>, meta: Option<&Meta>, looked_up: bool) {
    store
        .commit(&Batch {
            rows,
            meta,
            looked_up,
            requests_done: &[],
        })
        .unwrap();
}

/// `state` as the daemon loads it: without request bodies.
fn lean(mut state: State) -> State {
    for r in &mut state.bookings {
        r.request = None;
    }
    state
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_new_store_is_fresh_empty_0600_and_round_trips_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/state.db");
    let (mut store, state) = Store::open(&path, None).unwrap();
    assert!(store.fresh());
    assert!(state.bookings.is_empty());
    assert_eq!(mode(&path), 0o600);
    store.replace(&sample()).unwrap();
    drop(store);
    let (store, again) = Store::open(&path, None).unwrap();
    assert!(!store.fresh(), "a store written to is not fresh");
    assert_eq!(
        again,
        lean(sample()),
        "the daemon's load leaves the request bodies"
    );
    assert_eq!(read(&path).unwrap(), sample(), "readers see everything");
}

#[test]
fn a_batch_writes_only_its_rows_and_the_rest_stays() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let (mut store, _) = Store::open(&path, None).unwrap();
    store.replace(&sample()).unwrap();
    let mut ledger = Ledger::new(sample().bookings);
    let a = BookingKey {
        definition: "a".into(),
        start: 1,
    };
    ledger.get_mut(&a).unwrap().status = Status::Cancelled;
    ledger.remove(&BookingKey {
        definition: "b".into(),
        start: 2,
    });
    ledger.insert(
        BookingKey {
            definition: "e".into(),
            start: 5,
        },
        record("e", 5, Status::Pending),
    );
    let meta = Meta {
        last_pass: Some(9),
        ..Meta::default()
    };
    let (rows, _) = ledger.take_changes();
    assert_eq!(rows.len(), 3);
    commit(&mut store, rows, Some(&meta), false);
    let back = read(&path).unwrap();
    let want: Vec<Record> = ledger.values().cloned().collect();
    assert_eq!(back.bookings, want);
    assert_eq!(back.last_pass, Some(9));
    assert!(back.held_removals.is_empty());
    // An empty batch is not a write.
    let writes = store.writes();
    store.commit(&Batch::default()).unwrap();
    assert_eq!(store.writes(), writes);
}

#[test]
fn a_new_store_stays_fresh_until_the_daemon_writes_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let (store, _) = Store::open(&path, None).unwrap();
    assert!(store.fresh());
    drop(store);
    // Killed before its first write: the next start must still look up first.
    let (mut store, _) = Store::open(&path, None).unwrap();
    assert!(store.fresh());
    // Writes before the lookups are recorded leave it fresh.
    store
        .commit(&Batch {
            rows: vec![],
            meta: Some(&Meta {
                last_pass: Some(1),
                ..Meta::default()
            }),
            looked_up: false,
            requests_done: &[],
        })
        .unwrap();
    drop(store);
    let (mut store, _) = Store::open(&path, None).unwrap();
    assert!(store.fresh());
    commit(&mut store, vec![], Some(&Meta::default()), true);
    drop(store);
    assert!(!Store::open(&path, None).unwrap().0.fresh());
}

#[test]
fn a_second_opener_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let (_held, _) = Store::open(&path, None).unwrap();
    let err = Store::open(&path, None).err().unwrap();
    assert!(matches!(err, StateError::Locked { .. }), "{err}");
}

#[test]
fn a_json_state_at_the_path_is_imported_once_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    std::fs::write(&path, serde_json::to_string(&sample()).unwrap()).unwrap();
    let (_store, state) = Store::open(&path, None).unwrap();
    assert_eq!(state, lean(sample()));
    assert_eq!(read(&path).unwrap(), sample());
    let kept = dir.path().join("state.json.imported");
    let json: State = serde_json::from_str(&std::fs::read_to_string(&kept).unwrap()).unwrap();
    assert_eq!(json, sample(), "the JSON is kept as it was");
    assert_eq!(sniff(&path).unwrap(), Kind::Sqlite);
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn state_import_names_a_json_file_for_a_new_store() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.json");
    std::fs::write(&old, serde_json::to_string(&sample()).unwrap()).unwrap();
    let path = dir.path().join("state.db");
    let (store, state) = Store::open(&path, Some(&old)).unwrap();
    assert!(
        !store.fresh(),
        "an imported state is a record of what was booked"
    );
    assert_eq!(state, lean(sample()));
    assert_eq!(read(&path).unwrap(), sample());
    assert!(!old.exists());
    assert!(dir.path().join("old.json.imported").exists());
    drop(store);
    // Once the store exists, the import is not looked at again.
    std::fs::write(&old, "{\"version\":1}").unwrap();
    let (_store, state) = Store::open(&path, Some(&old)).unwrap();
    assert_eq!(state, lean(sample()));
}

#[test]
fn an_import_cut_between_its_two_moves_is_finished() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    std::fs::write(&path, serde_json::to_string(&sample()).unwrap()).unwrap();
    // Do the import up to the crash: the database built, the JSON moved aside.
    let tmp = with_suffix(&path, ".importing");
    std::fs::File::create(&tmp).unwrap();
    let mut db = sqlite::Db::open(&tmp).unwrap();
    db.replace(&sample(), &Meta::of(&sample())).unwrap();
    db.close().unwrap();
    std::fs::rename(&path, with_suffix(&path, ".imported")).unwrap();
    let (store, state) = Store::open(&path, None).unwrap();
    assert!(!store.fresh());
    assert_eq!(state, lean(sample()));
    assert_eq!(read(&path).unwrap(), sample());
}

#[test]
fn corrupt_and_newer_stores_are_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    std::fs::write(&path, "{\"version\": 1, \"bookings\": [").unwrap();
    let err = Store::open(&path, None).err().unwrap();
    assert!(matches!(err, StateError::Corrupt { .. }), "{err}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{\"version\": 1, \"bookings\": ["
    );
    std::fs::write(&path, "garbage that is no database").unwrap();
    let err = Store::open(&path, None).err().unwrap();
    assert!(matches!(err, StateError::Corrupt { .. }), "{err}");

    std::fs::remove_file(&path).unwrap();
    drop(Store::open(&path, None).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 9)
        .unwrap();
    let err = Store::open(&path, None).err().unwrap();
    assert!(matches!(err, StateError::Newer { found: 9, .. }), "{err}");
    assert!(err.to_string().contains("run a newer wemeet-scheduler"));
}

#[test]
fn backup_copies_while_the_store_is_open_and_restore_marks_it_fresh() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let (mut store, _) = Store::open(&path, None).unwrap();
    store.replace(&sample()).unwrap();
    let copy = dir.path().join("backup.db");
    backup(&path, &copy).unwrap();
    assert_eq!(mode(&copy), 0o600);
    assert_eq!(read(&copy).unwrap(), sample());
    // A second backup to the same name is refused, not overwritten.
    assert!(backup(&path, &copy).is_err());
    // Restore needs the daemon gone.
    assert!(matches!(
        restore(&copy, &path),
        Err(StateError::Locked { .. })
    ));
    // Later bookings, then the restore of the older copy.
    store
        .replace(&State {
            bookings: vec![record("z", 9, Status::Booked)],
            ..sample()
        })
        .unwrap();
    drop(store);
    assert_eq!(restore(&copy, &path).unwrap(), 4);
    let (mut store, state) = Store::open(&path, None).unwrap();
    assert_eq!(state, lean(sample()));
    assert_eq!(read(&path).unwrap(), sample());
    assert!(store.fresh(), "a restored store looks everything up first");
    commit(&mut store, vec![], Some(&Meta::default()), true);
    drop(store);
    let (store, _) = Store::open(&path, None).unwrap();
    assert!(!store.fresh(), "the first write clears the mark");
}

#[test]
fn reading_a_missing_store_is_an_empty_state_and_a_json_one_is_read_as_is() {
    let dir = tempfile::tempdir().unwrap();
    let s = read(&dir.path().join("none.db")).unwrap();
    assert_eq!(s.version, state::VERSION);
    assert!(s.bookings.is_empty());
    let json = dir.path().join("state.json");
    std::fs::write(&json, serde_json::to_string(&sample()).unwrap()).unwrap();
    assert_eq!(read(&json).unwrap(), sample());
    assert!(json.exists(), "a reader does not import");
}

#[test]
fn a_record_written_without_its_request_keeps_the_stored_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let (mut store, _) = Store::open(&path, None).unwrap();
    store.replace(&sample()).unwrap();
    let c = BookingKey {
        definition: "c".into(),
        start: 3,
    };
    let stored = answer(store.reader().request_of(&c))
        .unwrap()
        .expect("c has a request");
    assert_eq!(stored.0.get(), r#"{"subject":"y"}"#);
    let mut ledger = Ledger::new(sample().bookings);
    ledger.forget_all_requests();
    ledger.get_mut(&c).unwrap().attempts = 9;
    let (rows, _) = ledger.take_changes();
    commit(&mut store, rows, None, false);
    let back = read(&path).unwrap();
    let r = back.bookings.iter().find(|r| r.key() == c).unwrap();
    assert_eq!(r.attempts, 9, "the change is written");
    assert_eq!(r.request, Some(stored), "the request stays");
    // A record that never had one gets none.
    let a = BookingKey {
        definition: "a".into(),
        start: 1,
    };
    ledger.get_mut(&a).unwrap().attempts = 3;
    let (rows, _) = ledger.take_changes();
    commit(&mut store, rows, None, false);
    assert_eq!(answer(store.reader().request_of(&a)).unwrap(), None);
    assert_eq!(read(&path).unwrap().bookings[0].attempts, 3);
}

#[test]
fn a_record_loaded_without_its_join_url_and_code_keeps_them_while_its_meeting_is_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let (mut store, _) = Store::open(&path, None).unwrap();
    let full = Record {
        join_url: Some("https://meeting.example/j/1".into()),
        meeting_code: Some("123456789".into()),
        ..record("a", 1, Status::Booked)
    };
    let state = State {
        version: state::VERSION,
        bookings: vec![full.clone()],
        ..State::default()
    };
    store.replace(&state).unwrap();
    drop(store);
    let (mut store, loaded) = Store::open(&path, None).unwrap();
    let held = &loaded.bookings[0];
    assert_eq!(
        (held.join_url.as_deref(), held.meeting_code.as_deref()),
        (None, None),
        "the daemon does not hold them"
    );
    let a = BookingKey {
        definition: "a".into(),
        start: 1,
    };
    let mut ledger = Ledger::new(loaded.bookings);
    ledger.get_mut(&a).unwrap().status = Status::Cancelled;
    let (rows, _) = ledger.take_changes();
    commit(&mut store, rows, None, false);
    assert_eq!(
        answer(store.reader().record_of(&a)).unwrap(),
        Some(Record {
            status: Status::Cancelled,
            ..full.clone()
        }),
        "a change to the record keeps them"
    );
    // Booked again as another meeting: the old meeting's link is not this one's.
    if let Some(r) = ledger.get_mut(&a) {
        r.status = Status::Booked;
        r.meeting_id = Some("m-2".into());
    }
    let (rows, _) = ledger.take_changes();
    commit(&mut store, rows, None, false);
    let stored = answer(store.reader().record_of(&a)).unwrap().unwrap();
    assert_eq!((stored.join_url, stored.meeting_code), (None, None));
    // The new meeting's, once known, are written.
    ledger.booked(&a, "m-3", "987654321", "https://meeting.example/j/3", 10);
    let (rows, _) = ledger.take_changes();
    commit(&mut store, rows, None, false);
    let stored = answer(store.reader().record_of(&a)).unwrap().unwrap();
    assert_eq!(
        (stored.join_url.as_deref(), stored.meeting_code.as_deref()),
        (Some("https://meeting.example/j/3"), Some("987654321"))
    );
    assert_eq!(read(&path).unwrap().bookings, vec![stored]);
}

#[test]
fn an_operator_request_reaches_a_locked_store_and_goes_with_the_write_that_acts_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let config = crate::config::StateConfig {
        file: path.clone(),
        import: None,
        url: None,
        takeover: std::time::Duration::from_secs(30),
        retention: std::time::Duration::from_secs(86400),
    };
    // No database yet: nothing to leave a request in, and nothing waits.
    assert!(ask(&config, RequestKind::Retry, &["a@1".into()]).is_err());
    assert_eq!(requests_for(&config).unwrap(), []);
    // A daemon holds the store; the command leaves its requests beside it.
    let (mut store, _) = Store::open(&path, None).unwrap();
    ask(&config, RequestKind::Retry, &["a@1".into()]).unwrap();
    ask(
        &config,
        RequestKind::ApproveRemovals,
        &["x".into(), "y".into()],
    )
    .unwrap();
    let waiting = answer(store.reader().requests()).unwrap();
    let shown: Vec<(RequestKind, Vec<String>)> =
        waiting.iter().map(|r| (r.kind, r.items.clone())).collect();
    assert_eq!(
        shown,
        [
            (RequestKind::Retry, vec!["a@1".to_string()]),
            (RequestKind::ApproveRemovals, vec!["x".into(), "y".into()]),
        ]
    );
    assert!(waiting[0].id < waiting[1].id, "oldest first");
    assert_eq!(
        requests_for(&config).unwrap(),
        waiting,
        "readers see them too"
    );
    // The write that acts on the retry removes it.
    store
        .commit(&Batch {
            rows: vec![],
            meta: None,
            looked_up: false,
            requests_done: &[waiting[0].id],
        })
        .unwrap();
    assert_eq!(answer(store.reader().requests()).unwrap(), waiting[1..]);
}

#[test]
fn a_request_of_a_kind_this_build_does_not_know_is_left_alone() {
    assert_eq!(
        Request::of_row(1, "retry", "[\"a@1\"]").map(|r| r.kind),
        Some(RequestKind::Retry)
    );
    assert_eq!(Request::of_row(2, "approve-everything", "[]"), None);
    assert_eq!(Request::of_row(3, "retry", "{\"not\": \"a list\"}"), None);
}

/// Waits for a [`Reader`](super::Reader)'s answer, as the daemon's runtime does.
fn answer<T>(answer: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
        .block_on(answer)
}

/// Counts the rows each write puts in `invalid_files` and `meta` (SQLite triggers into a
/// table of their own).
fn audit(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "CREATE TABLE audit (what TEXT NOT NULL);
         CREATE TRIGGER a1 AFTER INSERT ON invalid_files BEGIN INSERT INTO audit VALUES ('put ' || NEW.path); END;
         CREATE TRIGGER a2 AFTER DELETE ON invalid_files BEGIN INSERT INTO audit VALUES ('delete ' || OLD.path); END;
         CREATE TRIGGER a3 AFTER INSERT ON meta BEGIN INSERT INTO audit VALUES ('meta ' || NEW.key); END;",
    )
    .unwrap();
    conn
}

fn audited(conn: &rusqlite::Connection) -> Vec<String> {
    let mut stmt = conn.prepare("SELECT what FROM audit").unwrap();
    let rows = stmt.query_map([], |r| r.get(0)).unwrap();
    let out = rows.collect::<Result<Vec<String>, _>>().unwrap();
    conn.execute("DELETE FROM audit", []).unwrap();
    out
}

#[test]
fn invalid_files_are_rows_written_one_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let (mut store, _) = Store::open(&path, None).unwrap();
    store.replace(&sample()).unwrap();
    let conn = audit(&path);
    let mut db = sqlite::Db::open(&path).unwrap();
    // One edited, one fixed: two rows, and not the values.
    let edited = InvalidFile {
        path: "/srv/meetings.d/a.toml".into(),
        problems: vec!["/srv/meetings.d/a.toml:2:11: expected a string".into()],
    };
    let mut owned = Batch::default().to_owned().unwrap();
    let changes = [
        InvalidChange::Put(edited.clone()),
        InvalidChange::Delete("/srv/meetings.d/team/b.toml".into()),
    ];
    owned.add_invalid(false, &changes).unwrap();
    db.write_owned(&owned, false).unwrap();
    assert_eq!(
        audited(&conn),
        [
            "put /srv/meetings.d/a.toml",
            "delete /srv/meetings.d/team/b.toml"
        ]
    );
    drop((store, db));
    let back = read(&path).unwrap();
    assert_eq!(back.invalid, [edited]);
    assert_eq!(back.bookings, sample().bookings);
    let meta: String = conn
        .query_row("SELECT value FROM meta WHERE key = 'daemon'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(!meta.contains("invalid"), "{meta}");
}

#[test]
fn a_store_that_kept_its_invalid_files_in_its_values_loads_them_and_its_next_write_moves_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let (mut store, _) = Store::open(&path, None).unwrap();
    store.replace(&sample()).unwrap();
    drop(store);
    // As a build from before the rows wrote it: the list in the values (and, from a later
    // build before that one wrote again, a stale row).
    let older = InvalidFile {
        path: "/srv/meetings.d/old.toml".into(),
        problems: vec!["/srv/meetings.d/old.toml:1:1: invalid TOML".into()],
    };
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE meta SET value = json_set(value, '$.invalid', json(?1)) WHERE key = 'daemon'",
        [serde_json::to_string(&[&older]).unwrap()],
    )
    .unwrap();
    let (store, state) = Store::open(&path, None).unwrap();
    assert_eq!(state.invalid, std::slice::from_ref(&older));
    assert!(state.invalid_in_meta);
    assert_eq!(
        read(&path).unwrap().invalid,
        std::slice::from_ref(&older),
        "status shows them"
    );
    let (_, meta) = Meta::split(state);
    assert!(meta.invalid_in_meta);
    drop(store);
    // The daemon's first write: every invalid file as a row, and the values without them.
    let conn = audit(&path);
    let mut db = sqlite::Db::open(&path).unwrap();
    let mut owned = Batch {
        meta: Some(&Meta {
            invalid_in_meta: false,
            ..meta
        }),
        ..Batch::default()
    }
    .to_owned()
    .unwrap();
    owned
        .add_invalid(true, &[InvalidChange::Put(sample().invalid[0].clone())])
        .unwrap();
    db.write_owned(&owned, false).unwrap();
    assert_eq!(
        audited(&conn),
        [
            "delete /srv/meetings.d/a.toml",
            "delete /srv/meetings.d/team/b.toml",
            "put /srv/meetings.d/a.toml",
            "meta daemon"
        ],
        "the stale rows go first"
    );
    let (_store, state) = Store::open(&path, None).unwrap();
    assert!(!state.invalid_in_meta);
    assert_eq!(state.invalid, sample().invalid[..1]);
    assert_eq!(state.last_pass, sample().last_pass);
}
