//! Typed reads out of a spanned TOML tree that report every problem instead of stopping at the
//! first one.
//!
//! This is the "raw" stage of reading a file: it checks syntax, key names and value types, and
//! hands spanned values to the validation stage of [`crate::config`] and
//! [`crate::definition`], which build typed values and check what the values mean. Both stages
//! write into the same [`Collector`], so a user sees every problem of a file in one run.
//!
//! serde's derive stops at the first wrong key or type; walking [`toml::de::DeTable`] (which
//! keeps the byte span of every key and value) lets us go on.

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diagnostic::{Collector, did_you_mean};

/// Byte range of a key or value in the file's text.
pub type Span = Range<usize>;
/// A value with the span it was written at.
pub type Value<'i> = Spanned<DeValue<'i>>;

/// Parses a whole document, recording every syntax error (duplicate keys included).
/// Returns `None` when there was any: later checks on a half-parsed tree only add noise.
pub fn parse<'i>(text: &'i str, c: &mut Collector<'_>) -> Option<Spanned<DeTable<'i>>> {
    let (doc, errors) = DeTable::parse_recoverable(text);
    if errors.is_empty() {
        return Some(doc);
    }
    for error in errors {
        // `message()` is the parser's words alone; `Display` would quote the source line,
        // which in a config can hold the secret key.
        let message = error.message().trim_end().to_string();
        c.error_hint(
            error.span().unwrap_or(0..0),
            format!("invalid TOML: {message}"),
            "see https://toml.io for the syntax; strings need quotes, keys may appear once",
        );
    }
    None
}

/// One table of the document, with the dotted name it has there (`""` for the root).
#[derive(Clone)]
pub struct Table<'a, 'i> {
    table: &'a DeTable<'i>,
    span: Span,
    name: String,
}

impl<'a, 'i> Table<'a, 'i> {
    pub fn root(doc: &'a Spanned<DeTable<'i>>) -> Self {
        Table {
            table: doc.get_ref(),
            span: doc.span(),
            name: String::new(),
        }
    }

    /// A table found inside an array or another value, named by the caller (`hosts[2]`).
    pub fn nested(table: &'a DeTable<'i>, span: Span, name: String) -> Self {
        Table { table, span, name }
    }

    /// Where the table starts (its header, or the start of the file for the root).
    pub fn span(&self) -> Span {
        self.span.clone()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key as a user would write it in a dotted path: `schedule.cron`.
    pub fn path_of(&self, key: &str) -> String {
        if self.name.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.name)
        }
    }

    /// Every key with its span and value, in the order of the underlying map.
    pub fn entries(&self) -> impl Iterator<Item = (&'a str, Span, &'a Value<'i>)> + 'a {
        self.table
            .iter()
            .map(|(k, v)| (k.get_ref().as_ref(), k.span(), v))
    }

    /// Reports every key that is not in `known`, pointing at the key, with the closest known
    /// key as the hint when there is one close enough to be a typo.
    pub fn deny_unknown(&self, known: &[&str], c: &mut Collector<'_>) {
        for (key, span, _) in self.entries() {
            if known.contains(&key) {
                continue;
            }
            let hint = match did_you_mean(key, known.iter().copied()) {
                Some(k) => format!("did you mean `{}`?", self.path_of(k)),
                None => format!("known keys here: {}", known.join(", ")),
            };
            let place = if self.name.is_empty() {
                String::new()
            } else {
                format!(" in [{}]", self.name)
            };
            c.error_hint(span, format!("unknown key `{key}`{place}"), hint);
        }
    }

    pub fn get(&self, key: &str) -> Option<&'a Value<'i>> {
        self.table
            .iter()
            .find(|(k, _)| k.get_ref().as_ref() == key)
            .map(|(_, v)| v)
    }

    /// Span of the key itself, for problems about the key's presence rather than its value.
    pub fn key_span(&self, key: &str) -> Option<Span> {
        self.table
            .iter()
            .find(|(k, _)| k.get_ref().as_ref() == key)
            .map(|(k, _)| k.span())
    }

    fn wrong_type(&self, c: &mut Collector<'_>, key: &str, value: &Value<'_>, want: &str) {
        c.error(
            value.span(),
            format!(
                "`{}` must be {want}, found {}",
                self.path_of(key),
                describe(value.get_ref())
            ),
        );
    }

    pub fn string(&self, key: &str, c: &mut Collector<'_>) -> Option<Spanned<String>> {
        let value = self.get(key)?;
        match value.get_ref() {
            DeValue::String(s) => Some(Spanned::new(value.span(), s.to_string())),
            _ => {
                self.wrong_type(c, key, value, "a string");
                None
            }
        }
    }

    pub fn bool(&self, key: &str, c: &mut Collector<'_>) -> Option<Spanned<bool>> {
        let value = self.get(key)?;
        match value.get_ref() {
            DeValue::Boolean(b) => Some(Spanned::new(value.span(), *b)),
            _ => {
                self.wrong_type(c, key, value, "true or false");
                None
            }
        }
    }

    pub fn integer(&self, key: &str, c: &mut Collector<'_>) -> Option<Spanned<i64>> {
        let value = self.get(key)?;
        match integer_of(value.get_ref()) {
            Some(Ok(n)) => Some(Spanned::new(value.span(), n)),
            Some(Err(())) => {
                c.error(
                    value.span(),
                    format!("`{}` is too large for a 64-bit integer", self.path_of(key)),
                );
                None
            }
            None => {
                self.wrong_type(c, key, value, "an integer");
                None
            }
        }
    }

    pub fn table(&self, key: &str, c: &mut Collector<'_>) -> Option<Table<'a, 'i>> {
        let value = self.get(key)?;
        match value.get_ref() {
            DeValue::Table(t) => Some(Table {
                table: t,
                span: value.span(),
                name: self.path_of(key),
            }),
            _ => {
                self.wrong_type(c, key, value, "a table");
                None
            }
        }
    }

    pub fn array(&self, key: &str, c: &mut Collector<'_>) -> Option<(&'a [Value<'i>], Span)> {
        let value = self.get(key)?;
        match value.get_ref() {
            DeValue::Array(a) => Some((a, value.span())),
            _ => {
                self.wrong_type(c, key, value, "an array");
                None
            }
        }
    }

    /// A humantime duration string such as `"15m"`, `"1h 30m"` or `"14d"`.
    pub fn duration(&self, key: &str, c: &mut Collector<'_>) -> Option<Spanned<Duration>> {
        let value = self.get(key)?;
        let DeValue::String(s) = value.get_ref() else {
            c.error_hint(
                value.span(),
                format!(
                    "`{}` must be a duration string, found {}",
                    self.path_of(key),
                    describe(value.get_ref())
                ),
                "write it with a unit and quotes, like \"15m\", \"1h 30m\" or \"14d\"",
            );
            return None;
        };
        match humantime::parse_duration(s) {
            Ok(d) => Some(Spanned::new(value.span(), d)),
            Err(e) => {
                c.error_hint(
                    value.span(),
                    format!("`{}` is not a duration: {e}", self.path_of(key)),
                    "use a number and a unit, like \"15m\", \"1h 30m\" or \"14d\"",
                );
                None
            }
        }
    }

    /// An array of TOML dates (`[2026-12-25, 2027-01-01]`), at most `max` of them; each
    /// problem is reported at its item.
    pub fn dates(
        &self,
        key: &str,
        max: usize,
        c: &mut Collector<'_>,
    ) -> Option<std::collections::BTreeSet<chrono::NaiveDate>> {
        let (items, span) = self.array(key, c)?;
        if items.len() > max {
            c.error(
                span,
                format!(
                    "`{}` lists {} dates; at most {max}",
                    self.path_of(key),
                    items.len()
                ),
            );
            return None;
        }
        let mut out = std::collections::BTreeSet::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let date = match item.get_ref() {
                DeValue::Datetime(dt) => match (dt.date, dt.time, dt.offset) {
                    (Some(d), None, None) => {
                        chrono::NaiveDate::from_ymd_opt(d.year.into(), d.month.into(), d.day.into())
                    }
                    _ => None,
                },
                _ => None,
            };
            match date {
                Some(d) => {
                    out.insert(d);
                }
                None => {
                    ok = false;
                    c.error_hint(
                        item.span(),
                        format!("`{}[{i}]` must be a date", self.path_of(key)),
                        "write dates without quotes or times: [2026-12-25, 2027-01-01]",
                    );
                }
            }
        }
        ok.then_some(out)
    }

    /// A duration string within `bounds`: every duration the program reads has a lower
    /// bound, so no value can make a timer spin or an interval panic, and an upper bound, so
    /// no value can overflow time arithmetic or make work without end.
    pub fn bounded_duration(
        &self,
        key: &str,
        bounds: &DurationBounds,
        c: &mut Collector<'_>,
    ) -> Option<Spanned<Duration>> {
        let d = self.duration(key, c)?;
        let value = *d.get_ref();
        if value < bounds.min {
            c.error_hint(
                d.span(),
                format!(
                    "`{}` must be at least {}",
                    self.path_of(key),
                    bounds.min_text
                ),
                bounds.hint,
            );
            return None;
        }
        if value > bounds.max {
            c.error_hint(
                d.span(),
                format!(
                    "`{}` must be at most {}",
                    self.path_of(key),
                    bounds.max_text
                ),
                bounds.hint,
            );
            return None;
        }
        Some(d)
    }
}

/// The limits of a duration setting: the smallest and the largest value, and the hint shown
/// when a value is outside them.
pub struct DurationBounds {
    /// The smallest value allowed (`Duration::ZERO`: zero is allowed).
    pub min: Duration,
    /// `min` as the user would write it (`"1s"`).
    pub min_text: &'static str,
    pub max: Duration,
    /// `max` as the user would write it (`"366d"`).
    pub max_text: &'static str,
    /// Advice for a value below `min` or above `max`.
    pub hint: &'static str,
}

/// `Ok(n)` for an integer that fits in i64, `Err(())` for one that does not, `None` for a
/// value of another type.
pub fn integer_of(value: &DeValue<'_>) -> Option<Result<i64, ()>> {
    match value {
        DeValue::Integer(i) => Some(i64::from_str_radix(i.as_str(), i.radix()).map_err(|_| ())),
        _ => None,
    }
}

/// How a value is named in messages: its TOML type, never its content (it may be a secret).
pub fn describe(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}
