//! The invalid files as the store keeps them: one row each, keyed by path. The catalog notes
//! which rows may differ from the store's as it reads files, and hands over only those: an edit
//! of one invalid file among 100,000 writes one row (they were one value, rewritten whole).

use std::collections::HashMap;
use std::path::Path;

use super::{Catalog, Entry};
use crate::state::InvalidFile;
use crate::store::{InvalidChange, invalid_key};

/// What the store's invalid files are to become.
#[derive(Debug, Default, PartialEq)]
pub struct InvalidChanges {
    /// Every row is deleted first: the store's were not known (a new catalog, a watch
    /// directory moved, a store that kept them among its values).
    pub reset: bool,
    pub rows: Vec<InvalidChange>,
    /// How many files are invalid, these made (for the gauge).
    pub total: usize,
}

impl InvalidChanges {
    pub fn is_empty(&self) -> bool {
        !self.reset && self.rows.is_empty()
    }
}

impl Catalog {
    /// Puts `entry` in place of the definition `id` (`None`: removes it), noting the invalid
    /// files that changed with it. Returns the entry it replaced.
    pub(super) fn put(&mut self, id: &str, entry: Option<Entry>) -> Option<Entry> {
        let old = match entry {
            Some(entry) => self.files.insert(id.to_string(), entry),
            None => self.files.remove(id),
        };
        fn bad(e: Option<&Entry>) -> Option<&Entry> {
            e.filter(|e| e.parsed.is_err())
        }
        let (was, is) = (bad(old.as_ref()), bad(self.files.get(id)));
        let same = match (was, is) {
            (Some(a), Some(b)) => {
                a.path == b.path && a.parsed.as_ref().err() == b.parsed.as_ref().err()
            }
            (a, b) => a.is_none() && b.is_none(),
        };
        if !same {
            let keys: Vec<String> = was
                .into_iter()
                .chain(is)
                .map(|e| invalid_key(&e.path))
                .collect();
            for key in keys {
                self.invalid_noted.insert(key, Some(id.to_string()));
            }
        }
        old
    }

    /// Tells the catalog what the store holds (`stored`, as loaded; `in_meta`: they were among
    /// its values, [`crate::state::State::invalid_in_meta`]): the next take writes only what
    /// differs from it. Call once, after the first scan.
    pub fn settle_invalid(&mut self, stored: &[InvalidFile], in_meta: bool) {
        if in_meta {
            self.invalid_unknown = true;
            return;
        }
        self.invalid_unknown = false;
        // Every file invalid now was noted as it was read: of those, the ones the store holds
        // as they are need no write, and the ones it holds that are not invalid now go.
        let walk = self.walk_by_key();
        for file in stored {
            let key = invalid_key(&file.path);
            let id = self.invalid_noted.get(&key).cloned().flatten();
            if self.problems_at(&key, id.as_deref(), &walk).as_ref() == Some(&file.problems) {
                self.invalid_noted.remove(&key);
            } else {
                self.invalid_noted.entry(key).or_default();
            }
        }
    }

    /// Whether the store's invalid files are to change.
    pub fn has_invalid_changes(&self) -> bool {
        self.invalid_unknown || !self.invalid_noted.is_empty()
    }

    /// The invalid files' rows that changed since the last call (all of them, after a reset).
    pub fn take_invalid_changes(&mut self) -> InvalidChanges {
        let walk = self.walk_by_key();
        let noted = std::mem::take(&mut self.invalid_noted);
        let reset = std::mem::take(&mut self.invalid_unknown);
        let rows = if reset {
            let mut all: std::collections::BTreeMap<String, Vec<String>> = self
                .files
                .values()
                .filter_map(|e| {
                    let problems = e.parsed.as_ref().err()?;
                    Some((
                        invalid_key(&e.path),
                        problems.iter().map(ToString::to_string).collect(),
                    ))
                })
                .collect();
            for (key, problems) in walk {
                all.entry(key).or_default().extend(problems);
            }
            (all.into_iter())
                .map(|(path, problems)| {
                    InvalidChange::Put(InvalidFile {
                        path: path.into(),
                        problems,
                    })
                })
                .collect()
        } else {
            (noted.into_iter())
                .map(
                    |(key, id)| match self.problems_at(&key, id.as_deref(), &walk) {
                        Some(problems) => InvalidChange::Put(InvalidFile {
                            path: key.into(),
                            problems,
                        }),
                        None => InvalidChange::Delete(key),
                    },
                )
                .collect()
        };
        InvalidChanges {
            reset,
            rows,
            total: self.invalid_count(),
        }
    }

    /// How many files are invalid (without building them, as [`Catalog::invalid`] does).
    pub fn invalid_count(&self) -> usize {
        self.files.values().filter(|e| e.parsed.is_err()).count() + self.walk_problems.len()
    }

    /// The walk's problems by row key.
    fn walk_by_key(&self) -> HashMap<String, Vec<String>> {
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        for p in &self.walk_problems {
            out.entry(invalid_key(&p.path))
                .or_default()
                .push(p.to_string());
        }
        out
    }

    /// The problems of the invalid file at `key` now (its definition file's, then the walk's),
    /// or `None` when nothing there is invalid. `id`: the definition file's id, when known.
    fn problems_at(
        &self,
        key: &str,
        id: Option<&str>,
        walk: &HashMap<String, Vec<String>>,
    ) -> Option<Vec<String>> {
        let derived = || {
            let rel = Path::new(key).strip_prefix(&self.dir).ok()?;
            Some(rel.to_str()?.strip_suffix(".toml")?.to_string())
        };
        let id = id.map(str::to_string).or_else(derived);
        let file = (id.and_then(|id| self.files.get(&id)))
            .filter(|e| invalid_key(&e.path) == key)
            .and_then(|e| e.parsed.as_ref().err());
        let there = walk.get(key);
        if file.is_none() && there.is_none() {
            return None;
        }
        let mut problems: Vec<String> = file
            .into_iter()
            .flatten()
            .map(ToString::to_string)
            .collect();
        problems.extend(there.into_iter().flatten().cloned());
        Some(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{GOOD, defaults, now};
    use super::*;

    const BAD: &str = "subject = \"x\"\nstart_time = 2026-12-01T10:00:00Z\nduration = \"1h\"\npassword = \"12\"\n";

    fn puts(changes: &InvalidChanges) -> Vec<String> {
        let mut out: Vec<String> = (changes.rows.iter())
            .map(|c| match c {
                InvalidChange::Put(f) => {
                    format!("put {}", f.path.file_name().unwrap().to_string_lossy())
                }
                InvalidChange::Delete(k) => format!(
                    "delete {}",
                    Path::new(k).file_name().unwrap().to_string_lossy()
                ),
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn only_the_invalid_files_that_changed_are_handed_over() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for i in 0..50 {
            std::fs::write(d.join(format!("bad{i:02}.toml")), BAD).unwrap();
        }
        std::fs::write(d.join("good.toml"), GOOD).unwrap();
        let mut cat = Catalog::new(d);
        cat.rescan(&defaults(), now()).unwrap();
        // A new catalog does not know the store's: it replaces them all.
        let first = cat.take_invalid_changes();
        assert!(first.reset);
        assert_eq!((first.rows.len(), first.total), (50, 50));
        assert!(!cat.has_invalid_changes());
        // One edited (its problem moves to line 5): one row.
        std::fs::write(d.join("bad07.toml"), format!("# edited\n{BAD}")).unwrap();
        cat.rescan(&defaults(), now()).unwrap();
        let edit = cat.take_invalid_changes();
        assert!(!edit.reset);
        assert_eq!(puts(&edit), ["put bad07.toml"]);
        let InvalidChange::Put(file) = &edit.rows[0] else {
            unreachable!()
        };
        assert!(file.problems[0].contains("bad07.toml:5:12"), "{file:?}");
        // Fixed, removed, and a valid file broken.
        std::fs::write(d.join("bad08.toml"), GOOD).unwrap();
        std::fs::remove_file(d.join("bad09.toml")).unwrap();
        std::fs::write(d.join("good.toml"), BAD).unwrap();
        cat.rescan(&defaults(), now()).unwrap();
        let changes = cat.take_invalid_changes();
        assert_eq!(
            puts(&changes),
            ["delete bad08.toml", "delete bad09.toml", "put good.toml"]
        );
        assert_eq!(changes.total, 49);
        // Read again unchanged (a reload): nothing to write.
        cat.reparse_all(&defaults(), now()).unwrap();
        assert!(!cat.has_invalid_changes());
        assert_eq!(
            cat.take_invalid_changes(),
            InvalidChanges {
                total: 49,
                ..InvalidChanges::default()
            }
        );
    }

    #[test]
    fn settled_with_the_store_only_what_differs_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for name in ["a", "b", "c"] {
            std::fs::write(d.join(format!("{name}.toml")), BAD).unwrap();
        }
        let mut cat = Catalog::new(d);
        cat.rescan(&defaults(), now()).unwrap();
        let mut stored = cat.invalid();
        // The store has `b` with an older problem, and `gone`, a file no longer there.
        stored[1].problems = vec!["old".into()];
        stored.push(InvalidFile {
            path: d.join("gone.toml"),
            problems: vec!["x".into()],
        });
        stored.remove(2);
        cat.settle_invalid(&stored, false);
        let changes = cat.take_invalid_changes();
        assert!(!changes.reset);
        assert_eq!(
            puts(&changes),
            ["delete gone.toml", "put b.toml", "put c.toml"]
        );

        // A store that kept them in its values: all of them, as rows, in place of any.
        let mut cat = Catalog::new(d);
        cat.rescan(&defaults(), now()).unwrap();
        cat.settle_invalid(&stored, true);
        let changes = cat.take_invalid_changes();
        assert!(changes.reset);
        assert_eq!(puts(&changes), ["put a.toml", "put b.toml", "put c.toml"]);
    }

    #[test]
    fn problems_of_the_walk_are_rows_too() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("x.toml"), GOOD).unwrap();
        let mut cat = Catalog::new(d);
        cat.rescan(&defaults(), now()).unwrap();
        cat.settle_invalid(&[], false);
        assert!(!cat.has_invalid_changes());
        std::os::unix::fs::symlink(outside.path().join("x.toml"), d.join("evil.toml")).unwrap();
        cat.rescan(&defaults(), now()).unwrap();
        let changes = cat.take_invalid_changes();
        assert_eq!(puts(&changes), ["put evil.toml"]);
        std::fs::remove_file(d.join("evil.toml")).unwrap();
        cat.rescan(&defaults(), now()).unwrap();
        assert_eq!(puts(&cat.take_invalid_changes()), ["delete evil.toml"]);
    }
}
