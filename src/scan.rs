//! Finding definition files: the watch directory (or paths given on the command line) ->
//! every `*.toml` file in it with its definition id, read and validated.
//!
//! Dotfiles and dot-directories (editor temp files, a Kubernetes ConfigMap's `..data`), editor
//! swap and backup files and anything not ending in `.toml` are skipped. A symlinked file is
//! read only when it points inside the directory scanned; symlinked directories are not
//! followed (inside the tree they would only repeat it, outside it they are not ours).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::config::Defaults;
use crate::definition::{self, Definition};
use crate::diagnostic::Diagnostic;

/// A file that did not validate.
#[derive(Debug, Clone)]
pub struct Invalid {
    pub id: String,
    pub path: PathBuf,
    pub problems: Vec<Diagnostic>,
}

/// The result of reading a set of definition files.
#[derive(Debug, Default)]
pub struct Scan {
    /// Valid definitions, sorted by id.
    pub definitions: Vec<Definition>,
    /// Files that did not validate, sorted by id.
    pub invalid: Vec<Invalid>,
}

impl Scan {
    pub fn files(&self) -> usize {
        self.definitions.len() + self.invalid.len()
    }

    pub fn problem_count(&self) -> usize {
        self.invalid.iter().map(|i| i.problems.len()).sum()
    }

    fn sort(&mut self) {
        self.definitions.sort_by(|a, b| a.id.cmp(&b.id));
        self.invalid.sort_by(|a, b| a.id.cmp(&b.id));
    }
}

/// Whether a file name is one the scanner reads: `*.toml`, not hidden, not an editor's
/// temp file (`#x.toml#`, `.x.toml.swp`, `x.toml~` all fail the other tests).
pub fn is_definition_file(name: &str) -> bool {
    name.ends_with(".toml") && name.len() > ".toml".len() && !name.starts_with(['.', '#'])
}

/// A file found by the walk, with its definition id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub id: String,
    pub path: PathBuf,
}

/// What a walk of the watch directory saw.
#[derive(Debug, Default)]
pub struct Listing {
    /// The definition files, sorted by id.
    pub found: Vec<Found>,
    /// Problems with single entries (a symlink out of the directory, an unreadable
    /// subdirectory).
    pub problems: Vec<Diagnostic>,
    /// Id prefixes (`teamA/`) of the subdirectories that could not be read whole (no
    /// permission, an I/O error, replaced mid-walk): what was under them is unknown, not gone.
    pub unread: Vec<String>,
}

impl Listing {
    /// Whether the walk could not see `id` for certain (it is under an unread directory).
    pub fn unsure_of(&self, id: &str) -> bool {
        self.unread
            .iter()
            .any(|prefix| id.starts_with(prefix.as_str()))
    }
}

/// Lists definition files under `dir`, recursively. Only an unreadable `dir` itself is an
/// error.
pub fn find(dir: &Path) -> std::io::Result<Listing> {
    find_with(dir, &|d: &Path| std::fs::read_dir(d))
}

/// [`find`], reading directories with `read_dir` (tests fail some of them).
pub fn find_with(
    dir: &Path,
    read_dir: &dyn Fn(&Path) -> std::io::Result<std::fs::ReadDir>,
) -> std::io::Result<Listing> {
    let root = dir.canonicalize()?;
    let mut listing = Listing::default();
    walk(dir, &root, "", &mut listing, read_dir)?;
    listing.found.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(listing)
}

fn walk(
    dir: &Path,
    root: &Path,
    prefix: &str,
    listing: &mut Listing,
    read_dir: &dyn Fn(&Path) -> std::io::Result<std::fs::ReadDir>,
) -> std::io::Result<()> {
    let Listing {
        found, problems, ..
    } = listing;
    let mut subdirs = Vec::new();
    for entry in read_dir(dir)? {
        let entry = entry?;
        let name = match entry.file_name().into_string() {
            Ok(name) => name,
            Err(raw) => {
                // Not UTF-8: it cannot be a definition id, but it may be meant as one.
                let lossy = raw.to_string_lossy().into_owned();
                let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                if !lossy.starts_with('.') && (is_dir || is_definition_file(&lossy)) {
                    problems.push(Diagnostic::file(
                        &entry.path(),
                        if is_dir {
                            "directory name is not UTF-8; the files in it are not read"
                        } else {
                            "file name is not UTF-8; not read"
                        },
                        Some("rename it: definition ids are UTF-8 paths".into()),
                    ));
                }
                continue;
            }
        };
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let Ok(file_type) = entry.file_type() else {
            continue; // Deleted since read_dir listed it.
        };
        let is_dir = if file_type.is_symlink() {
            match path.canonicalize() {
                Ok(target) if target.starts_with(root) => {
                    if target.is_dir() {
                        continue;
                    }
                    false
                }
                Ok(target) => {
                    if is_definition_file(&name) || target.is_dir() {
                        problems.push(Diagnostic::file(
                            &path,
                            "symlink points outside the watch directory; not read",
                            Some("copy the file into the directory instead".into()),
                        ));
                    }
                    continue;
                }
                Err(_) => {
                    if is_definition_file(&name) {
                        problems.push(Diagnostic::file(
                            &path,
                            "dangling symlink; not read",
                            Some("remove it or point it at an existing file".into()),
                        ));
                    }
                    continue;
                }
            }
        } else {
            file_type.is_dir()
        };
        if is_dir {
            subdirs.push((path, format!("{prefix}{name}/")));
        } else if is_definition_file(&name) {
            let id = format!("{prefix}{}", &name[..name.len() - ".toml".len()]);
            found.push(Found { id, path });
        }
    }
    for (path, sub) in subdirs {
        if let Err(e) = walk(&path, root, &sub, listing, read_dir) {
            listing.problems.push(Diagnostic::file(
                &path,
                format!("cannot read directory: {e}; its definitions are kept as they were"),
                Some("make it readable by the daemon's user".into()),
            ));
            listing.unread.push(sub);
        }
    }
    Ok(())
}

/// Reads and validates every definition under `dir`.
pub fn scan_dir(dir: &Path, defaults: &Defaults, now: DateTime<Utc>) -> std::io::Result<Scan> {
    let Listing {
        found, problems, ..
    } = find(dir)?;
    let mut scan = load_found(&found, defaults, now);
    for p in problems {
        scan.invalid.push(Invalid {
            id: p.path.display().to_string(),
            path: p.path.clone(),
            problems: vec![p],
        });
    }
    scan.sort();
    Ok(scan)
}

/// Reads and validates the given files.
pub fn load_found(found: &[Found], defaults: &Defaults, now: DateTime<Utc>) -> Scan {
    let mut scan = Scan::default();
    for f in found {
        match definition::load(&f.path, &f.id, defaults, now) {
            Ok(d) => scan.definitions.push(d),
            Err(problems) => scan.invalid.push(Invalid {
                id: f.id.clone(),
                path: f.path.clone(),
                problems,
            }),
        }
    }
    scan.sort();
    scan
}

/// Reads the paths given on a command line: directories are scanned like the watch dir, files
/// are read whatever their name, with their file stem as id.
pub fn scan_paths(paths: &[PathBuf], defaults: &Defaults, now: DateTime<Utc>) -> Scan {
    let mut scan = Scan::default();
    for path in paths {
        if path.is_dir() {
            match scan_dir(path, defaults, now) {
                Ok(s) => {
                    scan.definitions.extend(s.definitions);
                    scan.invalid.extend(s.invalid);
                }
                Err(e) => scan.invalid.push(Invalid {
                    id: path.display().to_string(),
                    path: path.clone(),
                    problems: vec![Diagnostic::file(
                        path,
                        format!("cannot read directory: {e}"),
                        None,
                    )],
                }),
            }
        } else {
            let id = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string());
            let found = Found {
                id,
                path: path.clone(),
            };
            let s = load_found(std::slice::from_ref(&found), defaults, now);
            scan.definitions.extend(s.definitions);
            scan.invalid.extend(s.invalid);
        }
    }
    scan.sort();
    scan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_toml_files_are_definitions() {
        for name in ["standup.toml", "a.b.toml", "周会.toml"] {
            assert!(is_definition_file(name), "{name}");
        }
        for name in [
            ".standup.toml",
            ".standup.toml.swp",
            "standup.toml~",
            "#standup.toml#",
            ".#standup.toml",
            "standup.toml.bak",
            "standup.toml.dpkg-new",
            "standup.yaml",
            ".toml",
            "README.md",
        ] {
            assert!(!is_definition_file(name), "{name}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn walk_gives_ids_skips_hidden_and_refuses_links_out() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.toml"), "x").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("team/eng")).unwrap();
        std::fs::create_dir_all(d.join(".git")).unwrap();
        for f in [
            "a.toml",
            "team/standup.toml",
            "team/eng/retro.toml",
            ".git/x.toml",
            "b.toml~",
        ] {
            std::fs::write(d.join(f), "").unwrap();
        }
        std::os::unix::fs::symlink(d.join("a.toml"), d.join("alias.toml")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.toml"), d.join("out.toml")).unwrap();
        std::os::unix::fs::symlink(d.join("team"), d.join("team/loop")).unwrap();
        std::os::unix::fs::symlink(outside.path(), d.join("elsewhere")).unwrap();
        let Listing {
            found, problems, ..
        } = find(d).unwrap();
        let ids: Vec<_> = found.iter().map(|f| &*f.id).collect();
        assert_eq!(ids, ["a", "alias", "team/eng/retro", "team/standup"]);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems
                .iter()
                .all(|p| p.message.contains("outside the watch directory"))
        );
    }
}
