//! The answers to the requests the daemon sent about bookings: creates, lookups, changes.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::{
    Bookings, Failure, MAX_ADOPTED, Output, Phase, Refusal, Request, Told, What, lookup_backoff,
};
use crate::api::ApiError;
use crate::api::error::{Treatment, codes};
use crate::api::lookup::{self, Found};
use crate::api::model::MeetingInfo;
use crate::booking::BookingKey;
use crate::ledger::Modified;
use crate::state::{Change, RecordedRequest, Refused};

/// What to do about a create refused for good with `code`: the credentials, the app's or
/// user's permission, or else the definition.
fn permanent_hint(code: Option<i64>) -> &'static str {
    match code {
        Some(c) if codes::CREDENTIALS.contains(&c) => {
            "fix api.app_id, api.secret_id, api.sdk_id or the secret key, then reload: bookings that failed for this are retried by themselves"
        }
        Some(c) if codes::NO_PERMISSION.contains(&c) => {
            "no permission: the definition is not at fault; check in the Tencent Meeting admin console that the API app is authorised for this user's account and that the user may book meetings, then `wemeet-scheduler retry` it"
        }
        _ => {
            "fix the definition (it is retried when the file changes), or `wemeet-scheduler retry` it"
        }
    }
}

impl Bookings {
    /// The answer to a create.
    pub fn created(
        &mut self,
        key: BookingKey,
        result: Result<MeetingInfo, ApiError>,
        now: DateTime<Utc>,
    ) {
        if !self.answered(&key, Request::Create) {
            return;
        }
        match result {
            Ok(m) => {
                // A lookup for a twin booking (same owner, subject and times) may have adopted
                // this meeting while this create was on its way: the answer is certain, the
                // adoption was not. The twin goes back to be looked up again.
                if let Some(twin) = self.adopted.remove(m.meeting_id.as_str())
                    && twin != key
                    && self
                        .records
                        .get(&twin)
                        .is_some_and(|r| r.meeting_id.as_deref() == Some(m.meeting_id.as_str()))
                {
                    tracing::warn!(booking = %twin, meeting_id = %m.meeting_id, by = %key, "the meeting adopted for this booking was made by another one's create: looked up again");
                    self.records.unbooked(&twin, now.timestamp());
                    self.live.entry(twin).or_default().phase = Phase::Unsure { not_before: None };
                    self.out.push_back(Output::Pass);
                }
                self.booked(&key, m, false, now);
            }
            Err(e @ (ApiError::HeldBack { .. } | ApiError::Fenced { .. })) => {
                // Not sent: it waits with the user's other creates until the quota frees, or
                // until the server confirms the lead again. The call did not count.
                tracing::debug!(booking = %key, "create held back: {e}");
                self.set_phase(&key, Phase::Idle);
                if let Some(r) = self.records.get_mut(&key) {
                    r.attempts = r.attempts.saturating_sub(1);
                }
                self.out.push_back(Output::PassWhenQuiet);
            }
            Err(e) => {
                let message = e.to_string();
                if let Some(r) = self.records.get_mut(&key) {
                    r.last_error = Some(message.as_str().into());
                    r.error_code = e.code();
                    r.updated_at = now.timestamp();
                }
                if e.is_ambiguous() {
                    tracing::warn!(booking = %key, error_code = e.code(), trace = e.trace(), cause = %message, "create ended without a clear answer; looking it up before trying again");
                    self.set_phase(&key, Phase::Unsure { not_before: None });
                    self.out.push_back(Output::Pass);
                    return;
                }
                match e.treatment() {
                    Treatment::Permanent => {
                        let hint = permanent_hint(e.code());
                        self.fail(key, Failure::api(message, &e), hint, now);
                    }
                    Treatment::Quota => {
                        // A signal for the user's (or the app's) whole queue, not a timer for
                        // this booking: its create waits with the others until the window
                        // frees, and is not sent again on its own.
                        self.set_phase(&key, Phase::Idle);
                        let user = self.records.get(&key).map(|r| r.userid.clone());
                        let refused = Refusal::of(&e, user);
                        self.out.push_back(Output::QuotaRefused {
                            key: key.clone(),
                            refused,
                            error: message,
                        });
                        self.out.push_back(Output::Pass);
                    }
                    Treatment::Retry | Treatment::Resign => {
                        let until = now + self.retry_delay();
                        tracing::warn!(booking = %key, error_code = e.code(), trace = e.trace(), cause = %message, "create still failing after retries; trying again in {}", humantime::format_duration(self.rules.max_delay));
                        self.set_phase(&key, Phase::Waiting { until });
                        self.out.push_back(Output::WakeAt(until));
                    }
                }
            }
        }
    }

    /// Whether `key`'s record lacks the request body in memory (the daemon then reads it
    /// from the store for [`Bookings::looked_up`]).
    pub fn needs_request(&self, key: &BookingKey) -> bool {
        self.records.get(key).is_some_and(|r| r.request.is_none())
    }

    /// The answer to a lookup of `keys` (one user's meetings). `recorded` holds the request
    /// bodies the store keeps for those whose record in memory has none.
    pub fn looked_up(
        &mut self,
        keys: Vec<BookingKey>,
        result: Result<Vec<MeetingInfo>, ApiError>,
        recorded: &HashMap<BookingKey, RecordedRequest>,
        now: DateTime<Utc>,
    ) {
        let keys: Vec<BookingKey> = keys
            .into_iter()
            .filter(|k| self.answered(k, Request::LookUp))
            .collect();
        self.out.push_back(Output::Pass);
        match result {
            Ok(meetings) => {
                // Ids recorded for any booking, and those adopted in this lookup: never another
                // booking's meeting.
                let mut taken: HashSet<String> = self
                    .records
                    .values()
                    .filter_map(|r| r.meeting_id.as_deref().map(str::to_string))
                    .collect();
                for key in keys {
                    self.found(key, &meetings, &mut taken, recorded, now);
                }
            }
            Err(e) if e.treatment() == Treatment::Permanent => {
                // The lookup itself is refused (wrong credentials, no such user): trying again
                // cannot tell, and creating could book twice.
                for key in keys {
                    self.fail(
                        key,
                        Failure::api(format!("cannot look up whether the booking exists: {e}"), &e),
                        "fix what the error names; the booking is tried again when its file changes",
                        now,
                    );
                }
            }
            Err(ApiError::Fenced { .. }) => {
                // Not sent: looked up again by the next pass once the lead is confirmed.
                for key in keys {
                    self.set_phase(&key, Phase::Unsure { not_before: None });
                }
            }
            Err(e) => {
                for key in keys {
                    let creates = self.records.get(&key).map_or(0, |r| r.attempts);
                    let live = self.live.entry(key.clone()).or_default();
                    live.lookups += 1;
                    let lookups = live.lookups;
                    if creates + lookups >= self.rules.max_attempts {
                        self.fail(
                            key,
                            Failure::api(format!("cannot tell whether the create happened after {creates} create(s) and {lookups} lookup(s): {e}"), &e),
                            "nothing more is sent for it; check the meetings of its user, then edit the file to try again",
                            now,
                        );
                        continue;
                    }
                    live.lookups_failed += 1;
                    let wait = lookup_backoff(live.lookups_failed, self.rules.max_delay);
                    live.phase = Phase::Unsure {
                        not_before: Some(now + wait),
                    };
                    tracing::warn!(booking = %key, error_code = e.code(), trace = e.trace(), cause = %e, "cannot look up whether an earlier create happened; trying again in {}", humantime::format_duration(wait.to_std().unwrap_or_default()));
                }
            }
        }
    }

    /// One booking of a lookup that listed `meetings`.
    fn found(
        &mut self,
        key: BookingKey,
        meetings: &[MeetingInfo],
        taken: &mut HashSet<String>,
        recorded: &HashMap<BookingKey, RecordedRequest>,
        now: DateTime<Utc>,
    ) {
        let Some(r) = self.records.get(&key) else {
            return;
        };
        let wanted = r
            .request
            .as_ref()
            .or(recorded.get(&key))
            .and_then(|q| serde_json::from_str(q.0.get()).ok())
            .map_or_else(
                || lookup::Wanted::of_times(&r.subject, r.occurrence_start, r.occurrence_end),
                |q| lookup::Wanted::of_json(&q),
            );
        match lookup::find(&wanted, meetings, taken) {
            Found::One(m) => {
                tracing::info!(booking = %key, meeting_id = %m.meeting_id, "adopted: the earlier create did happen");
                taken.insert(m.meeting_id.clone());
                // Remembered until a create's answer could name it (one on its way now);
                // bounded: all forgotten when full.
                if self.adopted.len() >= MAX_ADOPTED {
                    self.adopted.clear();
                }
                self.adopted
                    .insert(m.meeting_id.as_str().into(), key.clone());
                self.booked(&key, *m, true, now);
            }
            Found::None if self.rules.recover => {
                tracing::info!(booking = %key, "not among the user's meetings: not booked yet");
                let subject = r.subject.clone();
                self.records.remove(&key);
                self.live.remove(&key);
                self.not_found.insert(key.clone());
                self.tell(Told::NotFound { key, subject });
            }
            Found::None => {
                let (creates, last, code) = (r.attempts, r.last_error.clone(), r.error_code);
                let live = self.live.entry(key.clone()).or_default();
                live.lookups += 1;
                let lookups = live.lookups;
                if creates + lookups >= self.rules.max_attempts {
                    // An answer nobody understands (an unknown code, a 5xx without a body)
                    // must not loop: stop, and say so.
                    self.fail(
                        key,
                        Failure::plain(
                            format!(
                                "no meeting was made after {creates} create(s) and {lookups} lookup(s); last error: {}",
                                last.as_deref().unwrap_or("none")
                            ),
                            code,
                        ),
                        "see the last error; the booking is tried again when its file changes",
                        now,
                    );
                    return;
                }
                if creates == 0 {
                    // Looked up before any create of this run or on record: nothing to redo.
                    tracing::info!(booking = %key, "not among its user's meetings: it will be created");
                } else {
                    tracing::info!(booking = %key, "the earlier create did not happen; it will be sent again");
                }
                live.phase = Phase::LookedUp;
                live.lookups_failed = 0;
            }
            Found::Several(ids) => {
                let message = format!(
                    "the create's answer was unclear, and {} meetings of {} could each be this booking's ({}): none was adopted and none is created",
                    ids.len(),
                    r.userid,
                    ids.join(", ")
                );
                self.fail(
                    key,
                    Failure::plain(message, None),
                    "check them in Tencent Meeting, cancel any extra one, and give each definition its own subject or invitees",
                    now,
                );
            }
        }
    }

    /// Whether the booking's modify moves it to another start while memory holds neither its
    /// join URL nor its code: the daemon then reads them from the store
    /// ([`Bookings::keep_links`]) before handing over the answer.
    pub fn needs_links(&self, key: &BookingKey) -> bool {
        self.records.get(key).is_some_and(|r| {
            matches!(r.change.as_deref(), Some(Change::Modify { start, .. }) if *start != key.start)
                && r.meeting_id.is_some()
                && r.join_url.is_none()
                && r.meeting_code.is_none()
        })
    }

    /// The join URL and code read from the store, to move with the booking (not a change).
    pub fn keep_links(
        &mut self,
        key: &BookingKey,
        join_url: Option<Box<str>>,
        code: Option<Box<str>>,
    ) {
        self.records.restore_links(key, join_url, code);
    }

    /// The answer to a modify or cancel. `hash` is the booking's definition's now (a refused
    /// cancel is not sent again while it stays so).
    pub fn changed(
        &mut self,
        key: BookingKey,
        result: Result<(), ApiError>,
        hash: Option<&str>,
        now: DateTime<Utc>,
    ) {
        if !self.answered(&key, Request::Change) {
            return;
        }
        let waited = self.phase(&key) == Phase::Sending(Request::Change);
        let Some(r) = self.records.get_mut(&key) else {
            return;
        };
        let Some(change) = r.change.take() else {
            // Nothing on record for it to take: unless the booking waited for this answer, it
            // is left as it is (an unsure one is still looked up before it is created again).
            if waited {
                self.live.remove(&key);
            }
            return;
        };
        self.live.remove(&key);
        match (result, *change) {
            (Ok(()), Change::Cancel { reason }) => {
                let meeting_id = r.meeting_id.clone().unwrap_or_else(|| "-".into());
                self.records.cancelled(&key, &reason, now.timestamp());
                tracing::info!(booking = %key, meeting_id = %meeting_id, "cancelled: {reason}");
                self.tell(Told::Changed {
                    key,
                    what: What::Cancelled(reason),
                });
                self.out.push_back(Output::Pass);
            }
            (
                Ok(()),
                Change::Modify {
                    fields,
                    start,
                    end,
                    request,
                    definition_hash,
                },
            ) => {
                let meeting_id = r.meeting_id.clone().unwrap_or_else(|| "-".into());
                let modified = Modified {
                    subject: fields.subject().map(str::to_string),
                    start,
                    end,
                    request: Some(request),
                    definition_hash: definition_hash.into(),
                };
                let what = What::Modified(fields.names().map(str::to_string).collect());
                tracing::info!(booking = %key, meeting_id = %meeting_id, "{what}");
                if let Some(key) = self.records.modified(&key, modified, now.timestamp()) {
                    self.tell(Told::Changed { key, what });
                    self.out.push_back(Output::Pass);
                }
            }
            (Err(e), change) => {
                let message = e.to_string();
                r.last_error = Some(message.as_str().into());
                r.error_code = e.code();
                r.updated_at = now.timestamp();
                match e.treatment() {
                    Treatment::Permanent => {
                        // Kept as booked; this change is not tried again until the definition
                        // changes again.
                        let kind = change.kind();
                        let definition_hash = match change {
                            Change::Modify {
                                definition_hash, ..
                            } => Some(definition_hash),
                            Change::Cancel { .. } => hash.map(str::to_string),
                        };
                        r.refused = Some(Box::new(Refused {
                            kind,
                            definition_hash,
                            error_code: e.code(),
                            at: now.timestamp(),
                        }));
                        r.acknowledged = None; // A new refusal needs a person anew.
                        tracing::error!(booking = %key, error_code = e.code(), trace = e.trace(), cause = %message, "the {} of a booked meeting was refused; it is not tried again until the definition changes", kind.as_str());
                    }
                    _ => {
                        r.change = Some(Box::new(change));
                        let until = now + self.retry_delay();
                        self.live.entry(key.clone()).or_default().phase = Phase::Waiting { until };
                        self.out.push_back(Output::WakeAt(until));
                        tracing::warn!(booking = %key, error_code = e.code(), trace = e.trace(), cause = %message, "the change to a booked meeting is still failing; trying again later");
                    }
                }
            }
        }
    }

    /// Requests that ended without an answer (a task that panicked, or was stopped): any of
    /// them may have been sent, so their bookings are looked up before anything else.
    pub fn lost(&mut self, keys: &[BookingKey]) {
        for key in keys {
            self.live.entry(key.clone()).or_default().phase = Phase::Unsure { not_before: None };
        }
        self.out.push_back(Output::Pass);
    }
}
