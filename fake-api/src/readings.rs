//! How the fake shows a meeting in its get, list and create answers. Each switch is one
//! reading of the vendor's docs; the defaults follow the docs as read today (doc 1095/42417
//! for create, 1095/42422 for get, 1095/42421 for list, and the official SDKs' models):
//!
//! - `hosts`: "if none are given, the host is the caller (`userid`)", listed as such.
//! - `participants`: the invitees; the docs let an answer leave them out, and cap or filter
//!   them by who asks.
//! - users: `{"userid": ...}` objects in today's docs and SDKs; bare strings in the older
//!   spec's table.
//! - times: strings of unix seconds in the docs' examples and the SDKs' models; integers in
//!   some of the docs' tables.
//!
//! The client must be right under every combination: the tests run the adoption rule, the
//! crash suite and the same-subject pairs under each ([`Readings::all`]).

use serde_json::{Value, json};

/// Which hosts an answer lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Hosts {
    /// Those sent, or the caller when none were (the docs).
    #[default]
    CallerWhenNone,
    /// Exactly those sent (none when none were).
    AsSent,
    /// Left out of the answer.
    Absent,
}

/// Which invitees an answer lists as `participants`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Participants {
    /// All of them.
    #[default]
    All,
    /// Left out of the answer.
    Absent,
    /// Only some: every other one (a capped or filtered list).
    Partial,
}

/// How an answer writes a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Users {
    /// `{"userid": "alice"}`.
    #[default]
    Objects,
    /// `"alice"`.
    Strings,
}

/// How an answer writes `start_time` and `end_time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Times {
    /// `"1700000000"`.
    #[default]
    Strings,
    /// `1700000000`.
    Numbers,
}

/// One reading of every field the client relies on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Readings {
    pub hosts: Hosts,
    pub participants: Participants,
    pub users: Users,
    pub times: Times,
}

impl Readings {
    /// Every combination (36).
    pub fn all() -> Vec<Readings> {
        let mut all = Vec::new();
        for hosts in [Hosts::CallerWhenNone, Hosts::AsSent, Hosts::Absent] {
            for participants in [
                Participants::All,
                Participants::Absent,
                Participants::Partial,
            ] {
                for users in [Users::Objects, Users::Strings] {
                    for times in [Times::Strings, Times::Numbers] {
                        all.push(Readings {
                            hosts,
                            participants,
                            users,
                            times,
                        });
                    }
                }
            }
        }
        all
    }

    /// Three combinations that together show every value of every switch at least once, for
    /// the suites too long to run 36 times.
    pub fn covering() -> [Readings; 3] {
        [
            Readings::default(),
            Readings {
                hosts: Hosts::AsSent,
                participants: Participants::Absent,
                users: Users::Strings,
                times: Times::Numbers,
            },
            Readings {
                hosts: Hosts::Absent,
                participants: Participants::Partial,
                users: Users::Strings,
                times: Times::Strings,
            },
        ]
    }

    /// Writes `hosts`, `participants`, `start_time` and `end_time` into `info`, from what was
    /// stored (user ids; unix seconds) and the caller.
    pub fn show(
        &self,
        info: &mut serde_json::Map<String, Value>,
        caller: &str,
        hosts: &[String],
        invitees: &[String],
        (start, end): (i64, i64),
    ) {
        let users = |ids: &[String]| -> Value {
            match self.users {
                Users::Objects => ids.iter().map(|u| json!({ "userid": u })).collect(),
                Users::Strings => ids.iter().map(|u| json!(u)).collect(),
            }
        };
        match self.hosts {
            Hosts::CallerWhenNone if hosts.is_empty() => {
                info.insert("hosts".into(), users(&[caller.to_string()]));
            }
            Hosts::CallerWhenNone | Hosts::AsSent => {
                info.insert("hosts".into(), users(hosts));
            }
            Hosts::Absent => {}
        }
        match self.participants {
            Participants::All => {
                info.insert("participants".into(), users(invitees));
            }
            Participants::Partial => {
                let some: Vec<String> = invitees.iter().step_by(2).cloned().collect();
                info.insert("participants".into(), users(&some));
            }
            Participants::Absent => {}
        }
        info.insert("start_time".into(), self.time(start));
        info.insert("end_time".into(), self.time(end));
    }

    /// A time (unix seconds) as this reading writes it.
    pub fn time(&self, t: i64) -> Value {
        match self.times {
            Times::Strings => json!(t.to_string()),
            Times::Numbers => json!(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(r: Readings, hosts: &[&str], invitees: &[&str]) -> Value {
        let mut info = serde_json::Map::new();
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        r.show(&mut info, "bot", &ids(hosts), &ids(invitees), (100, 200));
        Value::Object(info)
    }

    #[test]
    fn each_switch_shows_its_reading() {
        let d = Readings::default();
        assert_eq!(
            shown(d, &[], &["a", "b", "c"]),
            json!({"hosts": [{"userid": "bot"}], "participants": [{"userid": "a"}, {"userid": "b"}, {"userid": "c"}], "start_time": "100", "end_time": "200"})
        );
        let r = Readings {
            hosts: Hosts::AsSent,
            participants: Participants::Partial,
            users: Users::Strings,
            times: Times::Numbers,
        };
        assert_eq!(
            shown(r, &[], &["a", "b", "c"]),
            json!({"hosts": [], "participants": ["a", "c"], "start_time": 100, "end_time": 200})
        );
        let r = Readings {
            hosts: Hosts::Absent,
            participants: Participants::Absent,
            ..d
        };
        assert_eq!(
            shown(r, &["x"], &["a"]),
            json!({"start_time": "100", "end_time": "200"})
        );
        assert_eq!(shown(d, &["x"], &[])["hosts"], json!([{"userid": "x"}]));
    }

    #[test]
    fn the_covering_set_shows_every_value() {
        let c = Readings::covering();
        for h in [Hosts::CallerWhenNone, Hosts::AsSent, Hosts::Absent] {
            assert!(c.iter().any(|r| r.hosts == h), "{h:?}");
        }
        for p in [
            Participants::All,
            Participants::Absent,
            Participants::Partial,
        ] {
            assert!(c.iter().any(|r| r.participants == p), "{p:?}");
        }
        for u in [Users::Objects, Users::Strings] {
            assert!(c.iter().any(|r| r.users == u), "{u:?}");
        }
        for t in [Times::Strings, Times::Numbers] {
            assert!(c.iter().any(|r| r.times == t), "{t:?}");
        }
        assert_eq!(Readings::all().len(), 36);
    }
}
