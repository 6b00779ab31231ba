//! The layering the code claims is true: `lib.rs` lists the modules in data-flow order, each
//! using only those above it; and the daemon's rooms (`src/daemon/*.rs`) form no circle.
//!
//! A module *uses* another when its code (comments and `#[cfg(test)]` parts aside) names
//! `crate::other` or `super::other`; `use` lists count the same as paths in code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The code of a source file: without comment lines, and without what follows its first
/// `#[cfg(test)]` (the tests at the end of the file).
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = match text.find("#[cfg(test)]") {
        Some(at) => &text[..at],
        None => &text[..],
    };
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The names that follow `prefix` (`crate::`, `super::`) in `code`, and the names inside a
/// `prefix{a, b::c}` group.
fn named_after(code: &str, prefix: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    for (at, _) in code.match_indices(prefix) {
        let rest = &code[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            for item in inner.split(',') {
                let name = ident(item.trim());
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

/// The source files of a module: `src/m.rs`, or everything under `src/m/` but its tests.
fn files_of(dir: &Path, module: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let file = dir.join(format!("{module}.rs"));
    if file.exists() {
        out.push(file);
    }
    let mut stack = vec![dir.join(module)];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if name == "tests" || name == "tests.rs" {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if name.ends_with(".rs") {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn every_module_uses_only_those_lib_rs_lists_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let order: Vec<String> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("//! - [`"))
        .filter_map(|l| l.split_once("`]:").map(|(m, _)| m.to_string()))
        .collect();
    let declared: BTreeSet<String> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';').to_string())
        .collect();
    assert_eq!(
        order.iter().cloned().collect::<BTreeSet<_>>(),
        declared,
        "lib.rs's list and its `pub mod`s differ"
    );
    let position: BTreeMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, m)| (m.as_str(), i))
        .collect();
    let mut wrong = Vec::new();
    for (i, module) in order.iter().enumerate() {
        for file in files_of(&src, module) {
            for used in named_after(&code(&file), "crate::") {
                if position.get(used.as_str()).is_some_and(|&j| j > i) {
                    wrong.push(format!("{} uses {used}", file.display()));
                }
            }
        }
    }
    assert_eq!(
        wrong,
        Vec::<String>::new(),
        "modules using ones listed below them"
    );
}

#[test]
fn the_daemons_rooms_form_no_circle() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/daemon");
    let rooms: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            name.strip_suffix(".rs")
                .filter(|n| *n != "mod")
                .map(str::to_string)
        })
        .collect();
    assert!(rooms.len() >= 5, "{rooms:?}");
    let uses: BTreeMap<String, BTreeSet<String>> = rooms
        .iter()
        .map(|room| {
            let used = named_after(&code(&dir.join(format!("{room}.rs"))), "super::")
                .into_iter()
                .filter(|u| rooms.contains(u))
                .collect();
            (room.clone(), used)
        })
        .collect();
    // Depth-first: a room met again on its own path is a circle.
    fn visit(
        room: &str,
        uses: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == room) {
            let mut circle = path[at..].to_vec();
            circle.push(room.to_string());
            return Some(circle);
        }
        if !done.insert(room.to_string()) {
            return None;
        }
        path.push(room.to_string());
        for next in &uses[room] {
            if let Some(circle) = visit(next, uses, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for room in &rooms {
        let circle = visit(room, &uses, &mut Vec::new(), &mut done);
        assert_eq!(
            circle, None,
            "the daemon's rooms use each other in a circle"
        );
    }
}
#[test]
fn no_source_file_is_over_800_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut long = Vec::new();
    let mut stack = vec![src];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let lines = std::fs::read_to_string(&p).unwrap().lines().count();
                if lines > 800 {
                    long.push(format!("{}: {lines}", p.display()));
                }
            }
        }
    }
    long.sort();
    assert_eq!(long, Vec::<String>::new(), "files over 800 lines");
}
