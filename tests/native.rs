//! Rules booked as the service's own recurring meetings.
//!
//! The mapping's property: for seeded random rules that `schedule::native` maps, the service's
//! expansion of the `recurring_rule` the client sends (as the docs define it) is the cron
//! expansion over the window, occurrence for occurrence. The cron side is the independent
//! reference (`tests/cron_reference/`, no croner); the service side is the fake's expansion
//! (`fake-api/src/recurring.rs`, written from the docs on its own) and the second fake's
//! (`../shared/fakes/wemeet_docs_fake.py`, another reading of the docs by someone else), so no
//! side is the mapping's own reading.
//!
//! The check's property: under either daylight-saving reading of the fake (the zone's wall
//! clock, or a fixed offset), `plan::series::check` finds each series good or repairs it with
//! moves alone, back to exactly the cron occurrences.
//!
//! `WEMEET_NATIVE_RULES` (default 1500) and `WEMEET_NATIVE_SEED` (default 21) change the run.

mod cron_reference;
mod util;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};
use wemeet_fake_api::recurring;
use wemeet_scheduler::api::model::{RecurringRule, SubMeeting, SubMeetings};
use wemeet_scheduler::plan::series::{Repair, Window, check};
use wemeet_scheduler::schedule::native::{Repeat, native};
use wemeet_scheduler::schedule::parse_rule;

const ZONES: &[Tz] = &[
    chrono_tz::Asia::Shanghai,
    chrono_tz::UTC,
    chrono_tz::America::New_York,
    chrono_tz::Europe::London,
    chrono_tz::Europe::Berlin,
    chrono_tz::Australia::Sydney,
    chrono_tz::Pacific::Chatham,
    chrono_tz::America::St_Johns,
    chrono_tz::America::Santiago,
    chrono_tz::Australia::Lord_Howe,
    chrono_tz::Asia::Kolkata,
];

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A rule the mapping is likely to take (or to refuse for a reason worth testing): fixed times,
/// every month, and the day forms the service knows, with the edges (days 28 to 31, fifth
/// weekdays, times near the daylight-saving changes).
fn likely_rule(g: &mut cron_reference::RuleGen) -> String {
    let minute = ["0", "15", "30", "45", "0,30", "5"][g.below(6) as usize];
    let hour = match g.below(6) {
        0 => "9".to_string(),
        1 => ["0", "1", "2", "3", "23"][g.below(5) as usize].to_string(),
        2 => "9,17".to_string(),
        _ => g.below(24).to_string(),
    };
    let days = match g.below(7) {
        0 => "* *".to_string(),
        1 => "* MON-FRI".to_string(),
        2 => format!("* {}", g.below(7)),
        3 => ["* MON,WED,FRI", "* SAT,SUN", "* 2-4", "* 0,3"][g.below(4) as usize].to_string(),
        4 => format!("{} *", 1 + g.below(31)),
        5 => format!("{},{} *", 1 + g.below(14), 15 + g.below(14)),
        _ => format!("* {}#{}", g.below(7), 1 + g.below(5)),
    };
    let seconds = if g.below(8) == 0 { "30 " } else { "" };
    let (dom, dow) = days.split_once(' ').unwrap_or(("*", "*"));
    format!("{seconds}{minute} {hour} {dom} * {dow}")
}

/// One series to check: what the client sends and what cron says it must give.
struct Case {
    rule: String,
    tz: Tz,
    first: i64,
    wire: Value,
    want: Vec<i64>,
}

/// The second fake's expansion of every case (one Python process for all of them), or why it
/// cannot run here.
fn docs_fake_expansions(cases: &[Case]) -> Option<Vec<Result<Vec<i64>, String>>> {
    if !util::fake::docs_fake_here("the recurring-rule property") {
        return None;
    }
    let (script, python) = util::fake::docs_fake_setup().ok()?;
    let dir = script.parent()?.to_path_buf();
    let program = format!(
        "import sys, json\nsys.path.insert(0, {dir:?})\nimport wemeet_docs_fake as f\nfor line in sys.stdin:\n    q = json.loads(line)\n    try:\n        out = [s for s, _ in f.expand_recurring(q['start'], q['start'] + 1800, q['rule'], q['tz'])]\n        print(json.dumps({{'ok': out}}))\n    except Exception as e:\n        print(json.dumps({{'error': str(e)}}))\n",
        dir = dir.display().to_string()
    );
    let mut child = Command::new(python)
        .args(["-c", &program])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python starts");
    let mut input = String::new();
    for c in cases {
        input.push_str(&json!({"start": c.first, "rule": c.wire, "tz": c.tz.name()}).to_string());
        input.push('\n');
    }
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("python runs");
    writer.join().expect("writer").expect("written");
    assert!(out.status.success(), "the second fake's expansion failed");
    let lines: Vec<Result<Vec<i64>, String>> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).expect("json");
            match v.get("ok") {
                Some(ok) => Ok(serde_json::from_value(ok.clone()).expect("starts")),
                None => Err(v["error"].to_string()),
            }
        })
        .collect();
    assert_eq!(lines.len(), cases.len());
    Some(lines)
}

#[test]
fn mapped_rules_expand_on_the_service_as_cron_does() {
    let rules = env_or("WEMEET_NATIVE_RULES", 1500);
    let seed = env_or("WEMEET_NATIVE_SEED", 21);
    let mut g = cron_reference::RuleGen::new(seed);
    let today = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
    let mut cases = Vec::new();
    let mut mapped_forms: BTreeMap<&str, usize> = BTreeMap::new();
    let mut refused: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..rules {
        let rule = if i % 3 == 0 {
            g.rule()
        } else {
            likely_rule(&mut g)
        };
        let tz = ZONES[g.below(ZONES.len() as u64) as usize];
        let Ok(parsed) = parse_rule(&rule) else {
            continue;
        };
        let mapped = match native(&parsed, tz, today) {
            Ok(mapped) => mapped,
            Err(why) => {
                let kind = format!("{why:?}");
                *refused
                    .entry(kind.split([' ', '{']).next().unwrap_or("").to_string())
                    .or_default() += 1;
                continue;
            }
        };
        let reference = cron_reference::parse(&rule).expect("the reference parses it");
        // A window from any second of 2027 to 2030.
        let after = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()
            + TimeDelta::seconds(g.below(4 * 365 * 86_400) as i64);
        let count = 1 + g.below(50) as usize;
        let all = reference.starts_after(tz, after, None, None, count * mapped.times.len(), 5000);
        *mapped_forms
            .entry(match mapped.repeat {
                Repeat::Daily => "daily",
                Repeat::Workdays => "workdays",
                Repeat::Weekly => "weekly",
                Repeat::Weekdays(_) => "weekdays",
                Repeat::Monthly => "monthly",
                Repeat::MonthDays(_) => "month days",
                Repeat::NthWeekday { .. } => "nth weekday",
            })
            .or_default() += 1;
        for time in &mapped.times {
            // This series' occurrences: the rule's at this time of day.
            let want: Vec<i64> = all
                .iter()
                .filter(|t| {
                    let local = t.with_timezone(&tz).time();
                    local.num_seconds_from_midnight() == time.num_seconds_from_midnight()
                })
                .map(DateTime::timestamp)
                .take(count)
                .collect();
            assert!(
                !want.is_empty(),
                "{rule:?} in {tz} has no occurrence at {time}"
            );
            let wire =
                serde_json::to_value(RecurringRule::new(mapped.repeat, want.len() as u32)).unwrap();
            cases.push(Case {
                rule: rule.clone(),
                tz,
                first: want[0],
                wire,
                want,
            });
        }
    }
    let show = |c: &Case, got: &[i64]| {
        let local = |v: &[i64]| -> Vec<String> {
            v.iter()
                .take(8)
                .map(|&t| {
                    DateTime::from_timestamp(t, 0)
                        .unwrap()
                        .with_timezone(&c.tz)
                        .format("%F %T %Z")
                        .to_string()
                })
                .collect()
        };
        format!(
            "{:?} in {} sent as {}: cron {:?} ({} in all), service {:?} ({} in all)",
            c.rule,
            c.tz,
            c.wire,
            local(&c.want),
            c.want.len(),
            local(got),
            got.len()
        )
    };
    let mut wrong = Vec::new();
    for c in &cases {
        let got = recurring::Rule::parse(&c.wire).and_then(|r| {
            recurring::expand(c.first, c.first + 1800, &r, c.tz, recurring::Dst::Zone)
        });
        match got {
            Ok(got) => {
                let got: Vec<i64> = got.into_iter().map(|(s, _)| s).collect();
                if got != c.want {
                    wrong.push(format!("the fake: {}", show(c, &got)));
                }
            }
            Err(e) => wrong.push(format!("the fake refuses ({e}): {}", show(c, &[]))),
        }
    }
    // Under either daylight-saving reading the check finds the series good, or repairs it
    // with moves alone, back to exactly what cron wants.
    let mut moved = 0;
    for c in &cases {
        for dst in [recurring::Dst::Zone, recurring::Dst::Fixed] {
            let Ok(made) = recurring::Rule::parse(&c.wire)
                .and_then(|r| recurring::expand(c.first, c.first + 1800, &r, c.tz, dst))
            else {
                continue;
            };
            let subs = SubMeetings {
                items: made
                    .iter()
                    .map(|&(start, end)| SubMeeting {
                        sub_meeting_id: start.to_string(),
                        cancelled: false,
                        start_time: start,
                        end_time: end,
                    })
                    .collect(),
                unreadable: 0,
            };
            let window = Window {
                service: c.want.clone(),
                wanted: c.want.clone(),
            };
            match check(&window, 1800, &subs, false) {
                Ok(checked) => {
                    let mut after: BTreeMap<String, i64> =
                        made.iter().map(|&(s, _)| (s.to_string(), s)).collect();
                    for r in &checked.repairs {
                        match r {
                            Repair::Move {
                                sub_meeting_id,
                                start,
                                ..
                            } => {
                                after.insert(sub_meeting_id.clone(), *start);
                                moved += 1;
                            }
                            other => wrong.push(format!(
                                "{dst:?}: the check wants {other:?}: {}",
                                show(c, &[])
                            )),
                        }
                    }
                    let mut repaired: Vec<i64> = after.into_values().collect();
                    repaired.sort_unstable();
                    if repaired != c.want {
                        wrong.push(format!(
                            "{dst:?}: repaired to {repaired:?}: {}",
                            show(c, &[])
                        ));
                    }
                }
                Err(e) => wrong.push(format!("{dst:?}: beyond repair ({e}): {}", show(c, &[]))),
            }
        }
    }
    assert!(moved > 0, "no series crossed a daylight-saving change");
    if let Some(theirs) = docs_fake_expansions(&cases) {
        for (c, got) in cases.iter().zip(theirs) {
            match got {
                Ok(got) if got == c.want => {}
                Ok(got) => wrong.push(format!("the second fake: {}", show(c, &got))),
                Err(e) => wrong.push(format!("the second fake refuses ({e}): {}", show(c, &[]))),
            }
        }
    }
    eprintln!(
        "{} series from {rules} rules; mapped forms {mapped_forms:?}; refused {refused:?}",
        cases.len()
    );
    // The run must have tried every form, and refused for each reason, or it proves little.
    assert_eq!(mapped_forms.len(), 7, "{mapped_forms:?}");
    assert!(refused.len() >= 6, "{refused:?}");
    assert!(cases.len() as u64 >= rules / 3, "{} series", cases.len());
    assert!(
        wrong.is_empty(),
        "{} of {} series disagree (seed {seed}):\n{}",
        wrong.len(),
        cases.len(),
        wrong
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// A client for the fake at `base_url` (either kind takes the demo credentials).
fn client_for(base_url: &str) -> wemeet_scheduler::api::Client {
    let mut config = wemeet_scheduler::config::Config::default();
    config.api.base_url = base_url.parse().expect("URL");
    config.api.app_id = wemeet_fake_api::DEMO_APP_ID.into();
    config.api.secret_id = wemeet_fake_api::DEMO_SECRET_ID.into();
    config.api.timeout = std::time::Duration::from_secs(5);
    config.api.requests_per_minute = 0;
    config.retry.max_attempts = 3;
    config.retry.base_delay = std::time::Duration::from_millis(1);
    wemeet_scheduler::api::Client::new(
        &config.api,
        &config.retry,
        wemeet_scheduler::config::SecretKey::new(wemeet_fake_api::DEMO_SECRET_KEY),
    )
    .expect("client")
}

/// What the client does with a series, on `base_url`: book five working days from Monday
/// 7 January 2030, 10:00 in Shanghai, as one meeting with one link; read its occurrences back
/// and find them as planned; move Wednesday's an hour later; cancel Tuesday's; cancel the
/// whole series.
async fn series_round_trip(base_url: &str, which: &str) {
    use wemeet_scheduler::api::model::{CancelMeeting, MoveOccurrence, OccurrenceRef, Series};
    let client = client_for(base_url);
    let sh = chrono_tz::Asia::Shanghai;
    let monday = sh
        .with_ymd_and_hms(2030, 1, 7, 10, 0, 0)
        .unwrap()
        .timestamp();
    let day = 86_400;
    let mut req = util::api::create_request("Standup", 0);
    req.start_time = monday.to_string();
    req.end_time = (monday + 1800).to_string();
    req.series = Some(Series {
        meeting_type: 1,
        recurring_rule: RecurringRule::new(Repeat::Workdays, 5),
        time_zone: "Asia/Shanghai".into(),
    });
    let made = client
        .create(&req)
        .await
        .unwrap_or_else(|e| panic!("{which}: {e}"));
    assert!(made.join_url.starts_with("https://"), "{which}: one link");
    let got = client.get(&made.meeting_id, "tester", 1).await.unwrap();
    assert_eq!(got.meeting_type, 1, "{which}");
    let planned: Vec<i64> = (0..5).map(|d| monday + d * day).collect();
    let window = Window {
        service: planned.clone(),
        wanted: planned.clone(),
    };
    let checked = check(
        &window,
        1800,
        &got.sub_meetings,
        got.has_more_sub_meeting != 0,
    )
    .unwrap_or_else(|e| panic!("{which}: {e}"));
    assert_eq!(checked.repairs, [], "{which}");
    let id_of = |start: i64| {
        checked
            .matched
            .iter()
            .find(|(s, _)| *s == start)
            .map(|(_, id)| id.clone())
            .expect("matched")
    };
    // Wednesday's an hour later.
    let wednesday = monday + 2 * day;
    client
        .move_occurrence(
            &made.meeting_id,
            &MoveOccurrence {
                userid: "tester".into(),
                instanceid: 1,
                meeting_type: 1,
                recurring_rule: OccurrenceRef {
                    sub_meeting_id: id_of(wednesday),
                },
                start_time: (wednesday + 3600).to_string(),
                end_time: (wednesday + 5400).to_string(),
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{which}: {e}"));
    // Tuesday's cancelled.
    client
        .cancel(
            &made.meeting_id,
            &CancelMeeting::occurrence("tester".into(), 1, 1, id_of(monday + day)),
        )
        .await
        .unwrap_or_else(|e| panic!("{which}: {e}"));
    let got = client.get(&made.meeting_id, "tester", 1).await.unwrap();
    let live: Vec<i64> = got
        .sub_meetings
        .items
        .iter()
        .filter(|s| !s.cancelled)
        .map(|s| s.start_time)
        .collect();
    assert_eq!(
        live,
        [monday, wednesday + 3600, monday + 3 * day, monday + 4 * day],
        "{which}"
    );
    assert_ne!(got.status, "MEETING_STATE_CANCELLED", "{which}");
    // The whole series.
    client
        .cancel(
            &made.meeting_id,
            &CancelMeeting::series("tester".into(), 1, 1),
        )
        .await
        .unwrap_or_else(|e| panic!("{which}: {e}"));
    let got = client.get(&made.meeting_id, "tester", 1).await.unwrap();
    assert_eq!(got.status, "MEETING_STATE_CANCELLED", "{which}");
}

#[tokio::test]
async fn the_client_books_reads_back_moves_and_cancels_a_series_on_both_fakes() {
    let ours = wemeet_fake_api::FakeApi::start(
        wemeet_fake_api::FakeConfig::default(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    series_round_trip(&ours.base_url(), "our fake").await;
    let journal = ours.journal();
    let ops: Vec<&str> = journal.iter().map(|e| e.op).collect();
    assert_eq!(ops, ["create", "modify", "cancel", "cancel"]);
    assert_eq!(journal[0].occurrences.as_ref().map(Vec::len), Some(5));
    ours.shutdown().await;
    if util::fake::docs_fake_here("the series round trip") {
        let docs = util::fake::DocsFake::start(&wemeet_fake_api::FakeConfig::default());
        series_round_trip(&docs.base_url, "the second fake").await;
    }
}
