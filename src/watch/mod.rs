//! The watch directory, kept current: a [`Catalog`] of every definition file with its content
//! hash and parsed form, refreshed from file-system events (see [`crate::watcher`]) and by full
//! rescans.
//!
//! Events are hints. A full rescan compares every file by content hash, so nothing is missed
//! when events are lost (inotify overflow, NFS, a replaced directory); only files whose content
//! changed are parsed again.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use sha2::{Digest, Sha256};

use crate::booking::Name;
use crate::config::Defaults;
use crate::definition::{self, Definition};
use crate::diagnostic::Diagnostic;
use crate::meeting::Settings;
use crate::scan::{self, is_definition_file};
use crate::state::InvalidFile;

mod invalid;

pub use invalid::InvalidChanges;

/// One definition file as last read.
#[derive(Debug)]
struct Entry {
    path: PathBuf,
    hash: String,
    parsed: Result<Definition, Vec<Diagnostic>>,
}

/// Every definition file under the watch directory.
#[derive(Debug)]
pub struct Catalog {
    dir: PathBuf,
    /// By definition id (the path below the directory, without `.toml`).
    files: BTreeMap<String, Entry>,
    /// Definitions read anew or removed since [`Catalog::take_touched`]: what an incremental
    /// pass must look at.
    touched: std::collections::BTreeSet<Name>,
    /// Definitions whose files this catalog saw change (read before, then read again with
    /// other content): their changes were made by a definition. Not those first read at start
    /// or after a reload.
    edited: HashSet<String>,
    /// Problems found by the walk itself (a symlink out of the directory).
    walk_problems: Vec<Diagnostic>,
    /// Log each problem (and note) of a file as it is read (the daemon); `plan` prints them
    /// itself.
    log_problems: bool,
    /// The distinct settings the definitions have (a few at most: nearly all inherit the
    /// defaults'), one copy each for all the definitions that have them.
    settings: Vec<Arc<Settings>>,
    /// The invalid files whose rows in the store may differ from them now, by row key
    /// ([`crate::store::invalid_key`]), with the id of the definition file there, if any.
    invalid_noted: BTreeMap<String, Option<String>>,
    /// The store's invalid files are not known (until [`Catalog::settle_invalid`]): the next
    /// [`Catalog::take_invalid_changes`] replaces them all.
    invalid_unknown: bool,
}

/// The most distinct settings the catalog shares; a definition with others keeps its own.
const MAX_SHARED_SETTINGS: usize = 16;

/// What a refresh changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Changes {
    /// Files read and parsed because they are new or their content changed.
    pub changed: usize,
    pub removed: usize,
}

impl Changes {
    pub fn any(&self) -> bool {
        self.changed + self.removed > 0
    }

    fn add(&mut self, other: Changes) {
        self.changed += other.changed;
        self.removed += other.removed;
    }
}

/// The hash a definition's records carry, to tell when the file changed.
pub fn content_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    hex::encode(&digest[..16])
}

/// What a definition is made of besides its file: the config's defaults. Mixed into the
/// hash, so that new defaults (another time zone, say) count as a change to every definition
/// and booked meetings follow them.
///
/// Written out field by field as JSON (settings in key order), not with `Debug`: the key must
/// stay the same across builds and Rust versions, or every booked meeting would look edited
/// after an upgrade.
fn defaults_key(defaults: &Defaults) -> String {
    content_hash(&defaults_text(defaults))
}

fn defaults_text(defaults: &Defaults) -> String {
    let Defaults {
        userid,
        instanceid,
        timezone,
        book_ahead,
        settings,
        skip,
    } = defaults;
    let stable = serde_json::json!({
        "userid": userid,
        "instanceid": instanceid.id(),
        "timezone": timezone.name(),
        "book_ahead_s": book_ahead.as_secs(),
        "settings": settings,
        "skip": skip.iter().map(ToString::to_string).collect::<Vec<_>>(),
    });
    // Object keys come out sorted (serde_json's map is ordered by key).
    stable.to_string()
}

impl Catalog {
    pub fn new(dir: &Path) -> Catalog {
        Catalog {
            dir: dir.to_path_buf(),
            files: BTreeMap::new(),
            touched: Default::default(),
            edited: HashSet::new(),
            walk_problems: Vec::new(),
            log_problems: true,
            settings: Vec::new(),
            invalid_noted: BTreeMap::new(),
            invalid_unknown: true,
        }
    }

    /// A catalog that does not log the problems it reads: for a command that reports them
    /// itself, so each is shown once.
    pub fn quiet(mut self) -> Catalog {
        self.log_problems = false;
        self
    }

    /// Whether this catalog saw the file of `id` change since it first read it.
    pub fn edited(&self, id: &str) -> bool {
        self.edited.contains(id)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Walks the whole directory: new and changed files are parsed, vanished ones dropped.
    pub fn rescan(&mut self, defaults: &Defaults, now: DateTime<Utc>) -> std::io::Result<Changes> {
        let listing = scan::find(&self.dir)?;
        Ok(self.rescan_listed(listing, defaults, now))
    }

    /// [`Catalog::rescan`] from a listing. A file the walk could not see for certain (under
    /// a directory it could not read) is kept as it was, never taken as removed.
    fn rescan_listed(
        &mut self,
        listing: scan::Listing,
        defaults: &Defaults,
        now: DateTime<Utc>,
    ) -> Changes {
        self.read_listed(listing, defaults, now, Read::IfChanged)
    }

    /// Reads the files of `listing` (`how`: only those whose content changed, or all) and drops
    /// those it no longer holds.
    fn read_listed(
        &mut self,
        listing: scan::Listing,
        defaults: &Defaults,
        now: DateTime<Utc>,
        how: Read,
    ) -> Changes {
        let mut changes = Changes::default();
        let seen: HashSet<&str> = listing.found.iter().map(|f| &*f.id).collect();
        let gone: Vec<String> = self
            .files
            .keys()
            .filter(|id| !seen.contains(id.as_str()) && !listing.unsure_of(id))
            .cloned()
            .collect();
        for id in gone {
            self.put(&id, None);
            changes.removed += 1;
            self.touched.insert(id.into());
        }
        let key = defaults_key(defaults);
        for f in &listing.found {
            changes.add(self.refresh_file(&f.path, &f.id, defaults, &key, now, how));
        }
        if self.walk_problems != listing.problems {
            let old = std::mem::replace(&mut self.walk_problems, listing.problems);
            for p in old.iter().chain(&self.walk_problems) {
                let key = crate::store::invalid_key(&p.path);
                self.invalid_noted.entry(key).or_default();
            }
        }
        changes
    }

    /// Re-reads the files named by file-system events. A path that is not a definition file
    /// (a directory, a rename of a whole folder) leads to a full rescan.
    pub fn refresh(
        &mut self,
        paths: &[PathBuf],
        defaults: &Defaults,
        now: DateTime<Utc>,
    ) -> std::io::Result<Changes> {
        let mut changes = Changes::default();
        for path in paths {
            match self.id_of(path) {
                // A symlinked file is judged by the scan's rule (it must point inside the
                // watch directory): rescan rather than read it here.
                Some(Target::File(_)) if path.is_symlink() => {
                    return self.rescan(defaults, now);
                }
                Some(Target::File(id)) => {
                    let key = defaults_key(defaults);
                    let how = Read::IfChanged;
                    changes.add(self.refresh_file(path, &id, defaults, &key, now, how))
                }
                Some(Target::Ignored) => {}
                Some(Target::Other) | None => return self.rescan(defaults, now),
            }
        }
        Ok(changes)
    }

    /// Parses every file again (after the config's defaults changed). When the directory
    /// cannot be read, what was read before is kept.
    ///
    /// In place, one file at a time: each definition is replaced as its file is parsed again,
    /// so the catalog is never held twice (with 100,000 series, a second catalog would be
    /// another 150 MiB). A file whose content differs now is not counted as edited: its hash
    /// changes with the defaults, and that change is the config's (see [`Catalog::edited`]).
    pub fn reparse_all(
        &mut self,
        defaults: &Defaults,
        now: DateTime<Utc>,
    ) -> std::io::Result<Changes> {
        let listing = scan::find(&self.dir)?;
        Ok(self.read_listed(listing, defaults, now, Read::Again))
    }

    /// What an event path is to us.
    fn id_of(&self, path: &Path) -> Option<Target> {
        let rel = path.strip_prefix(&self.dir).ok()?;
        let mut parts = Vec::new();
        for c in rel.components() {
            let s = c.as_os_str().to_str()?;
            if s.starts_with("..") {
                // Kubernetes updates a mounted ConfigMap by swapping its `..data` directory:
                // every symlinked file may have changed without an event of its own.
                return Some(Target::Other);
            }
            if s.starts_with('.') {
                return Some(Target::Ignored);
            }
            parts.push(s);
        }
        let name = parts.last()?;
        if is_definition_file(name) {
            let joined = parts.join("/");
            Some(Target::File(
                joined[..joined.len() - ".toml".len()].to_string(),
            ))
        } else if path.is_dir() || !path.exists() && !name.contains('.') {
            // A directory, or something gone that may have been one.
            Some(Target::Other)
        } else {
            Some(Target::Ignored)
        }
    }

    fn refresh_file(
        &mut self,
        path: &Path,
        id: &str,
        defaults: &Defaults,
        defaults_key: &str,
        now: DateTime<Utc>,
        how: Read,
    ) -> Changes {
        if let Err(e) = std::fs::symlink_metadata(path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                // No permission on a directory above it, an I/O error: not a removal.
                tracing::warn!(
                    definition = id,
                    "cannot see {}: {e}; kept as it was",
                    path.display()
                );
                return Changes::default();
            }
            return match self.put(id, None) {
                Some(_) => {
                    self.touched.insert(id.into());
                    Changes {
                        changed: 0,
                        removed: 1,
                    }
                }
                None => Changes::default(),
            };
        }
        let (hash, parsed) = match definition::read_text(path) {
            Ok(text) => {
                let hash = content_hash(&format!("{defaults_key}\n{text}"));
                if how == Read::IfChanged
                    && self
                        .files
                        .get(id)
                        .is_some_and(|e| e.hash == hash && e.path == path)
                {
                    return Changes::default();
                }
                let parsed = definition::parse(path, id, &text, defaults, now);
                (hash, parsed)
            }
            Err(problems) => (String::new(), Err(problems)),
        };
        // Read again (a reload), a file is a change only when it, or what the defaults make
        // of it, is not what it was.
        let same = self
            .files
            .get(id)
            .is_some_and(|e| e.hash == hash && e.path == path);
        if how == Read::IfChanged && self.files.get(id).is_some_and(|e| e.hash != hash) {
            self.edited.insert(id.to_string());
        }
        let parsed = parsed.map(|mut def| {
            self.share_settings(&mut def);
            def
        });
        if self.log_problems {
            match &parsed {
                Err(problems) => {
                    for p in problems {
                        tracing::warn!(definition = id, "{p}");
                    }
                }
                // Said as `validate` says it: a meeting that has passed is no problem.
                Ok(def) => {
                    if let Some(note) = def.note(now) {
                        tracing::info!(definition = id, "{note}");
                    }
                }
            }
        }
        let entry = Entry {
            path: path.to_path_buf(),
            hash,
            parsed,
        };
        self.put(id, Some(entry));
        self.touched.insert(id.into());
        Changes {
            changed: usize::from(!same),
            removed: 0,
        }
    }

    /// Makes `def` hold the catalog's copy of its settings, when it has one: with 50,000
    /// definitions, their settings were a fifth of the daemon's memory.
    fn share_settings(&mut self, def: &mut Definition) {
        if let Some(s) = self.settings.iter().find(|s| **s == def.settings) {
            def.settings = s.clone();
            return;
        }
        self.settings.retain(|s| Arc::strong_count(s) > 1);
        if self.settings.len() < MAX_SHARED_SETTINGS {
            self.settings.push(def.settings.clone());
        }
    }

    /// The definitions read anew or removed since the last call.
    pub fn take_touched(&mut self) -> std::collections::BTreeSet<Name> {
        std::mem::take(&mut self.touched)
    }

    /// The valid definition with this id.
    pub fn get(&self, id: &str) -> Option<&Definition> {
        self.files.get(id).and_then(|e| e.parsed.as_ref().ok())
    }

    /// The valid definitions, by path.
    pub fn definitions(&self) -> impl Iterator<Item = &Definition> {
        self.files.values().filter_map(|e| e.parsed.as_ref().ok())
    }

    /// Whether a definition of this id is present, valid or not (an invalid file is not a
    /// removed one).
    pub fn has_id(&self, id: &str) -> bool {
        self.files.contains_key(id)
    }

    /// Content hash of the file behind a definition id.
    pub fn hash_of(&self, id: &str) -> Option<&str> {
        self.files.get(id).map(|e| e.hash.as_str())
    }

    /// Files that did not validate, with their problems.
    pub fn invalid(&self) -> Vec<InvalidFile> {
        let mut out: Vec<InvalidFile> = self
            .files
            .values()
            .filter_map(|e| {
                e.parsed
                    .as_ref()
                    .err()
                    .map(|p| InvalidFile::new(&e.path, p))
            })
            .collect();
        out.extend(
            self.walk_problems
                .iter()
                .map(|p| InvalidFile::new(&p.path, std::slice::from_ref(p))),
        );
        out
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// Which files a walk reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    /// New ones and those whose content changed (by hash).
    IfChanged,
    /// Every one (a reload: the defaults may have changed, and with them what a file means).
    Again,
}

enum Target {
    File(String),
    Ignored,
    Other,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    pub(super) fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
    }

    pub(super) fn defaults() -> Defaults {
        let mut d = crate::config::Config::default().defaults;
        d.userid = Some("u".into());
        d
    }

    pub(super) const GOOD: &str =
        "subject = \"x\"\nstart_time = 2026-12-01T10:00:00Z\nduration = \"1h\"\n";

    #[test]
    fn rescan_parses_only_what_changed_and_drops_what_vanished() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a.toml"), GOOD).unwrap();
        std::fs::write(d.join("b.toml"), "subject = 3").unwrap();
        let mut cat = Catalog::new(d);
        assert_eq!(
            cat.rescan(&defaults(), now()).unwrap(),
            Changes {
                changed: 2,
                removed: 0
            }
        );
        assert_eq!(cat.definitions().count(), 1);
        assert_eq!(cat.invalid().len(), 1);
        assert!(cat.has_id("b"), "an invalid file is still present");
        // Unchanged content: nothing parsed again.
        assert_eq!(cat.rescan(&defaults(), now()).unwrap(), Changes::default());
        std::fs::write(d.join("b.toml"), GOOD).unwrap();
        std::fs::remove_file(d.join("a.toml")).unwrap();
        assert_eq!(
            cat.rescan(&defaults(), now()).unwrap(),
            Changes {
                changed: 1,
                removed: 1
            }
        );
        let ids: Vec<&str> = cat.definitions().map(|d| &*d.id).collect();
        assert_eq!(ids, ["b"]);
    }

    #[test]
    fn the_defaults_key_is_a_stable_serialisation() {
        // The text hashed, written out: if it changes, every booked meeting looks edited after
        // an upgrade (a modify of nothing, then a rehash), so change it only on purpose.
        let mut d = crate::config::Config::default().defaults;
        d.userid = Some("ops-bot".into());
        d.settings
            .insert("mute_all".into(), serde_json::Value::Bool(true));
        assert_eq!(
            defaults_text(&d),
            r#"{"book_ahead_s":1209600,"instanceid":1,"settings":{"mute_all":true},"skip":[],"timezone":"UTC","userid":"ops-bot"}"#
        );
    }

    #[test]
    fn refresh_reads_named_files_and_ignores_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut cat = Catalog::new(d);
        cat.rescan(&defaults(), now()).unwrap();
        std::fs::create_dir(d.join("team")).unwrap();
        std::fs::write(d.join("team/x.toml"), GOOD).unwrap();
        std::fs::write(d.join(".x.toml.swp"), "junk").unwrap();
        let changes = cat
            .refresh(
                &[d.join("team/x.toml"), d.join(".x.toml.swp")],
                &defaults(),
                now(),
            )
            .unwrap();
        assert_eq!(
            changes,
            Changes {
                changed: 1,
                removed: 0
            }
        );
        assert_eq!(&*cat.definitions().next().unwrap().id, "team/x");
        std::fs::remove_file(d.join("team/x.toml")).unwrap();
        let changes = cat
            .refresh(&[d.join("team/x.toml")], &defaults(), now())
            .unwrap();
        assert_eq!(
            changes,
            Changes {
                changed: 0,
                removed: 1
            }
        );
        assert!(cat.is_empty());
    }

    #[test]
    fn a_reparse_of_an_unreadable_dir_keeps_what_was_read() {
        let dir = tempfile::tempdir().unwrap();
        let watch = dir.path().join("meetings.d");
        std::fs::create_dir(&watch).unwrap();
        std::fs::write(watch.join("a.toml"), GOOD).unwrap();
        let mut cat = Catalog::new(&watch);
        cat.rescan(&defaults(), now()).unwrap();
        std::fs::rename(&watch, dir.path().join("elsewhere")).unwrap();
        assert!(cat.reparse_all(&defaults(), now()).is_err());
        assert_eq!(cat.definitions().count(), 1);
    }

    #[test]
    fn a_reparse_reads_every_file_again_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a.toml"), GOOD).unwrap();
        std::fs::write(d.join("b.toml"), GOOD).unwrap();
        let mut cat = Catalog::new(d);
        cat.rescan(&defaults(), now()).unwrap();
        cat.take_touched();
        std::fs::remove_file(d.join("b.toml")).unwrap();
        // New defaults: every definition is read with them.
        let mut other = defaults();
        other.userid = Some("v".into());
        let changes = cat.reparse_all(&other, now()).unwrap();
        assert_eq!(
            changes,
            Changes {
                changed: 1,
                removed: 1
            }
        );
        let a = cat.get("a").unwrap();
        assert_eq!(a.userid, "v");
        assert!(!cat.has_id("b"));
        assert!(!cat.edited("a"), "a change of the defaults is not an edit");
        let touched: Vec<String> = cat.take_touched().iter().map(|n| n.to_string()).collect();
        assert_eq!(touched, ["a", "b"]);
        // Read again though unchanged, and then not counted as a change (a SIGHUP that
        // changed nothing logged "definitions changed changed=N" for every file).
        assert_eq!(cat.reparse_all(&other, now()).unwrap(), Changes::default());
        let touched: Vec<String> = cat.take_touched().iter().map(|n| n.to_string()).collect();
        assert_eq!(touched, ["a"], "read again all the same");
    }

    #[test]
    fn files_under_a_directory_that_cannot_be_read_are_kept_not_removed() {
        // `chmod 000 teamA`, an I/O error, a directory replaced mid-walk: what is under it is
        // unknown, not gone (it was taken as removed, and its meetings cancelled).
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("teamA")).unwrap();
        for f in ["teamA/a1.toml", "teamA/a2.toml", "b.toml"] {
            std::fs::write(d.join(f), GOOD).unwrap();
        }
        let mut cat = Catalog::new(d);
        cat.rescan(&defaults(), now()).unwrap();
        assert_eq!(cat.definitions().count(), 3);
        let unreadable = |p: &Path| {
            if p.ends_with("teamA") {
                Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied))
            } else {
                std::fs::read_dir(p)
            }
        };
        let listing = scan::find_with(d, &unreadable).unwrap();
        assert_eq!(listing.unread, ["teamA/"]);
        let changes = cat.rescan_listed(listing, &defaults(), now());
        assert_eq!(changes.removed, 0);
        assert_eq!(cat.definitions().count(), 3);
        let problems: Vec<String> = cat
            .invalid()
            .iter()
            .map(|i| i.problems[0].clone())
            .collect();
        assert!(
            problems.iter().any(|p| p.contains("cannot read directory")),
            "{problems:?}"
        );
        // Readable again and really gone: removed.
        std::fs::remove_dir_all(d.join("teamA")).unwrap();
        assert_eq!(cat.rescan(&defaults(), now()).unwrap().removed, 2);
        assert_eq!(cat.definitions().count(), 1);
    }

    #[test]
    fn a_past_one_off_is_valid_for_the_daemon_however_long_ago_it_ended() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let one_off =
            |start: &str| format!("subject = \"x\"\nstart_time = {start}\nduration = \"1h\"\n");
        // A week before `now`: kept as missed when it was never booked.
        std::fs::write(d.join("recent.toml"), one_off("2026-11-18T10:00:00Z")).unwrap();
        // Years ago: its record is long pruned, and nothing is recorded for it again (the
        // planner's `forget_before`); an ended meeting, not an invalid file (as for
        // `validate`).
        std::fs::write(d.join("old.toml"), one_off("2020-01-01T10:00:00Z")).unwrap();
        let mut cat = Catalog::new(d);
        cat.rescan(&defaults(), now()).unwrap();
        let ids: Vec<_> = cat.definitions().map(|def| def.id.to_string()).collect();
        assert_eq!(ids, ["old", "recent"]);
        assert!(cat.invalid().is_empty(), "{:?}", cat.invalid());
    }

    #[test]
    fn events_under_a_configmap_data_dir_rescan_and_symlinks_out_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("x.toml"), GOOD).unwrap();
        let mut cat = Catalog::new(d);
        cat.rescan(&defaults(), now()).unwrap();
        // A ConfigMap update: `..data` now points at a new directory holding a new file, and
        // `a.toml -> ..data/a.toml` was there all along; the only event is on `..data`.
        std::fs::create_dir(d.join("..2026_11_26")).unwrap();
        std::fs::write(d.join("..2026_11_26/a.toml"), GOOD).unwrap();
        std::os::unix::fs::symlink("..2026_11_26", d.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/a.toml", d.join("a.toml")).unwrap();
        cat.refresh(&[d.join("..data")], &defaults(), now())
            .unwrap();
        assert_eq!(cat.definitions().next().map(|def| &*def.id), Some("a"));
        // A symlink out of the directory, seen through an event: refused as the scan does.
        std::os::unix::fs::symlink(outside.path().join("x.toml"), d.join("evil.toml")).unwrap();
        cat.refresh(&[d.join("evil.toml")], &defaults(), now())
            .unwrap();
        assert_eq!(cat.definitions().count(), 1, "not read");
        let invalid = cat.invalid();
        assert!(
            invalid
                .iter()
                .any(|i| i.problems[0].contains("symlink points outside the watch directory")),
            "{invalid:?}"
        );
    }
}
