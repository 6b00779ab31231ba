//! Problems found in a file, with the place they are at and what to do about them.
//!
//! Every file the program reads (the daemon config, each meeting definition) reports its
//! problems as [`Diagnostic`]s: `path:line:column: message; hint: ...`. A [`Collector`] turns
//! byte offsets from the TOML parser into lines and columns and gathers every problem of one
//! file, so a reader sees all of them at once, not one per edit-and-retry.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The file as the user named it (or as found under the watch directory).
    pub path: PathBuf,
    /// 1-based line, when the problem has a place in the file.
    pub line: Option<usize>,
    /// 1-based column in characters, when the problem has a place in the file.
    pub column: Option<usize>,
    /// What is wrong, in lowercase, without the value of any secret.
    pub message: String,
    /// What to do about it, when there is something more to say than the message.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A problem with the file as a whole (unreadable, too large, not a regular file).
    pub fn file(path: &Path, message: impl Into<String>, hint: Option<String>) -> Self {
        Diagnostic {
            path: path.to_path_buf(),
            line: None,
            column: None,
            message: message.into(),
            hint,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, ":{line}:{column}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "; hint: {hint}")?;
        }
        Ok(())
    }
}

/// A place in a file, kept for a problem found after the file was read (a file the config
/// names, read by `validate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl Place {
    /// A problem at this place.
    pub fn problem(&self, message: impl Into<String>, hint: Option<String>) -> Diagnostic {
        Diagnostic {
            path: self.path.clone(),
            line: Some(self.line),
            column: Some(self.column),
            message: message.into(),
            hint,
        }
    }
}

/// The candidate a mistyped name was most likely meant to be, if any is close enough:
/// a small edit distance (transpositions count once) or a strong common prefix.
pub fn did_you_mean<'c>(
    input: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let input = input.to_lowercase();
    candidates
        .into_iter()
        .filter_map(|c| {
            let lower = c.to_lowercase();
            let edits = strsim::damerau_levenshtein(&input, &lower);
            let score = strsim::jaro_winkler(&input, &lower);
            let close = edits <= (lower.chars().count() / 3).max(1) || score > 0.9;
            close.then_some((edits, c))
        })
        .min_by_key(|(edits, _)| *edits)
        .map(|(_, c)| c)
}

/// Byte offset -> (line, column) for one text, computed once per file.
#[derive(Debug, Clone)]
pub struct LineIndex {
    line_starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { line_starts }
    }

    /// 1-based line and column (in characters) of a byte offset into `text`.
    pub fn position(&self, text: &str, offset: usize) -> (usize, usize) {
        let offset = offset.min(text.len());
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let line_start = self.line_starts[line.saturating_sub(1)];
        // `get` instead of slicing: an offset inside a multi-byte character must not panic.
        let column = text
            .get(line_start..offset)
            .map_or(offset - line_start, |s| s.chars().count());
        (line, column + 1)
    }
}

/// Gathers every problem of one file.
#[derive(Debug)]
pub struct Collector<'t> {
    path: PathBuf,
    text: &'t str,
    index: LineIndex,
    found: Vec<(usize, Diagnostic)>,
}

impl<'t> Collector<'t> {
    pub fn new(path: &Path, text: &'t str) -> Self {
        Collector {
            path: path.to_path_buf(),
            text,
            index: LineIndex::new(text),
            found: Vec::new(),
        }
    }

    /// Records a problem at the start of `span`.
    pub fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.push(span, message.into(), None);
    }

    /// Records a problem at the start of `span`, with advice on how to fix it.
    pub fn error_hint(
        &mut self,
        span: Range<usize>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.push(span, message.into(), Some(hint.into()));
    }

    fn push(&mut self, span: Range<usize>, message: String, hint: Option<String>) {
        let (line, column) = self.index.position(self.text, span.start);
        self.found.push((
            span.start,
            Diagnostic {
                path: self.path.clone(),
                line: Some(line),
                column: Some(column),
                message,
                hint,
            },
        ));
    }

    pub fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    /// Where `span` starts.
    pub fn place(&self, span: Range<usize>) -> Place {
        let (line, column) = self.index.position(self.text, span.start);
        Place {
            path: self.path.clone(),
            line,
            column,
        }
    }

    /// The problems in the order they appear in the file.
    pub fn finish(mut self) -> Vec<Diagnostic> {
        self.found.sort_by_key(|(offset, _)| *offset);
        self.found.into_iter().map(|(_, d)| d).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let text = "a = 1\n主题 = \"x\"\n\nlast";
        let index = LineIndex::new(text);
        assert_eq!(index.position(text, 0), (1, 1));
        assert_eq!(index.position(text, 4), (1, 5));
        // The `=` after two three-byte characters and a space is column 4.
        let eq = text.find("= \"x\"").unwrap();
        assert_eq!(index.position(text, eq), (2, 4));
        assert_eq!(index.position(text, text.len()), (4, 5));
    }

    #[test]
    fn did_you_mean_finds_typos_not_strangers() {
        let keys = ["dir", "rescan_interval"];
        assert_eq!(did_you_mean("dri", keys), Some("dir"));
        assert_eq!(
            did_you_mean("rescan_intervall", keys),
            Some("rescan_interval")
        );
        assert_eq!(did_you_mean("colour", keys), None);
        let zones = ["Asia/Shanghai", "Asia/Singapore"];
        assert_eq!(did_you_mean("asia/shangai", zones), Some("Asia/Shanghai"));
    }

    #[test]
    fn display_has_path_line_column_and_hint() {
        let mut c = Collector::new(Path::new("m/standup.toml"), "x = 1\ny = 2\n");
        c.error_hint(6..7, "unknown key `y`", "did you mean `x`?");
        c.error(0..1, "first");
        let found = c.finish();
        assert_eq!(found[0].to_string(), "m/standup.toml:1:1: first");
        assert_eq!(
            found[1].to_string(),
            "m/standup.toml:2:1: unknown key `y`; hint: did you mean `x`?"
        );
    }
}
