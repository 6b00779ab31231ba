//! Telling people: each `[[notify]]` target (a WeCom group robot, a Slack incoming webhook,
//! or any webhook) hears about the bookings it follows: booked (with the join link), changed,
//! cancelled, failed, missed; and about the daemon: removals held, a config reload failed.
//!
//! Sending never delays booking: the daemon hands a message to [`Outbox::send`], which only
//! queues it (a full queue drops it, logged and counted); a task sends each message on its
//! own, with a timeout, and retries a failed send with backoff a bounded number of times
//! before it logs and counts the failure. When a message about a booking is done (sent, or
//! given up), the daemon records it on the booking's record ([`crate::state::Record`]'s
//! `notified`), so each event is announced once per target even across restarts: a message
//! lost to a crash is sent at the next start if it is at most [`RESEND_WITHIN`] old.
//!
//! A target's URL is a secret (a robot's URL is its key): it is read at start from a file or
//! an environment variable (or the config, when only its owner can read it), and never
//! appears in a log line, an error or the state.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{Semaphore, mpsc};

use crate::booking::BookingKey;
use crate::config::{NotifyEvent, NotifyKind, NotifyTarget, SecretError, SecretKey};
use crate::metrics::{Metrics, NotifyLabels};

/// Messages waiting to be sent at most; more are dropped (and counted), never waited for.
pub const QUEUE: usize = 10_000;
/// Sends in flight at most, over all targets.
const IN_FLIGHT: usize = 8;
/// Tries per message: the first and four retries, 1, 2, 4 and 8 s apart.
const TRIES: u32 = 5;
/// One try's bound: a receiver that hangs is given up on.
const TIMEOUT: Duration = Duration::from_secs(5);
/// How much of a receiver's answer is read (to see a WeCom robot's `errcode`).
const MAX_ANSWER: usize = 64 * 1024;
/// A message about a booking that was not sent (the daemon stopped first) is sent at the next
/// start when it is at most this old; older news is not news.
pub const RESEND_WITHIN: Duration = Duration::from_secs(3600);

/// What happened, as every target kind is told it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    pub event: NotifyEvent,
    /// The definition's id; empty for `held` and `reload_failed`.
    pub definition: String,
    /// The occurrence's start, unix seconds (the booking's key with `definition`).
    pub occurrence: i64,
    pub subject: String,
    /// The start in the meeting's time zone, RFC 3339.
    pub start: String,
    /// The meeting's time zone (IANA name).
    pub timezone: String,
    pub join_url: Option<String>,
    pub meeting_code: Option<String>,
    /// Why it failed or was missed, what changed, or why it was cancelled.
    pub detail: Option<String>,
    /// `held`: the definitions whose removal waits for `approve-removals`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub definitions: Vec<String>,
}

impl Message {
    /// The id of this event on its booking, as recorded in `notified` (`booked`, `changed:2`,
    /// `failed:1700000000`, ...): a booking can fail again after a retry, and change again.
    pub fn event_id(&self, sequence: u32, updated_at: i64) -> String {
        match self.event {
            NotifyEvent::Changed => format!("changed:{sequence}"),
            NotifyEvent::Failed => format!("failed:{updated_at}"),
            e => e.as_str().to_string(),
        }
    }

    fn title(&self) -> String {
        match self.event {
            NotifyEvent::Booked => format!("Booked: {}", self.subject),
            NotifyEvent::Changed => format!("Changed: {}", self.subject),
            NotifyEvent::Cancelled => format!("Cancelled: {}", self.subject),
            NotifyEvent::Failed => format!("Booking FAILED: {}", self.subject),
            NotifyEvent::Missed => format!("Booking MISSED: {}", self.subject),
            NotifyEvent::Held => "Removals HELD: meetings not cancelled".to_string(),
            NotifyEvent::ReloadFailed => {
                "Config reload FAILED: the previous config runs".to_string()
            }
            NotifyEvent::Quota => {
                "Creates PAUSED: the monthly create budget is used up".to_string()
            }
        }
    }

    fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if self.event == NotifyEvent::Held {
            lines.push(format!(
                "{} definition(s) vanished at once; nothing is cancelled until `wemeet-scheduler approve-removals`: {}",
                self.definitions.len(),
                self.definitions.join(", ")
            ));
            return lines;
        }
        if self.event == NotifyEvent::Quota {
            lines.extend(self.detail.clone());
            lines.push(
                "Meetings already booked are not touched; more premium accounts raise the budget (api.premium_accounts)".into(),
            );
            return lines;
        }
        if self.event == NotifyEvent::ReloadFailed {
            lines.extend(self.detail.clone());
            lines.push(
                "Fix the config and reload again: until then the daemon cannot restart".into(),
            );
            return lines;
        }
        lines.push(format!("When: {} ({})", self.start, self.timezone));
        if let Some(url) = &self.join_url {
            lines.push(format!("Join: {url}"));
        }
        if let Some(code) = &self.meeting_code {
            lines.push(format!("Meeting code: {code}"));
        }
        if let Some(d) = &self.detail {
            lines.push(d.clone());
        }
        lines.push(format!("Definition: {}", self.definition));
        lines
    }

    /// The request body for a target of `kind`.
    pub fn body(&self, kind: NotifyKind) -> serde_json::Value {
        match kind {
            NotifyKind::Wecom => {
                let mut content = format!("**{}**", self.title());
                for l in self.lines() {
                    content.push_str("\n> ");
                    content.push_str(&l);
                }
                serde_json::json!({"msgtype": "markdown", "markdown": {"content": content}})
            }
            NotifyKind::Slack => {
                let mut text = format!("*{}*", self.title());
                for l in self.lines() {
                    text.push('\n');
                    text.push_str(&l);
                }
                serde_json::json!({ "text": text })
            }
            NotifyKind::Webhook => serde_json::to_value(self).unwrap_or_default(),
        }
    }
}

/// A target with its URL read.
struct Target {
    config: NotifyTarget,
    url: reqwest::Url,
}

/// Why notifications could not start. Never carries a URL.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("notify target `{name}`: {source}")]
    Url { name: String, source: SecretError },
    #[error(
        "notify target `{name}`: its URL is not an http(s) URL; fix the file or variable it is read from"
    )]
    BadUrl { name: String },
    #[error("cannot set up the HTTP client for notifications: {0}")]
    Client(#[from] reqwest::Error),
}

/// One message on its way, and what to record when it is done.
struct Job {
    target: usize,
    body: Vec<u8>,
    /// The booking and the `notified` entry to record when the send is done.
    mark: Option<(BookingKey, String)>,
}

/// A send that is done (sent, or given up after every retry): record it.
#[derive(Debug, PartialEq, Eq)]
pub struct Done {
    pub key: BookingKey,
    /// `target/event-id`.
    pub mark: String,
}

/// The daemon's handle: which targets hear what, and the queue to the sender task.
pub struct Outbox {
    targets: Arc<Vec<Target>>,
    queue: mpsc::Sender<Job>,
    metrics: Option<Arc<Metrics>>,
}

/// The URL a target's secret holds, if it is an http(s) URL (surrounding whitespace, such as
/// a file's trailing newline, is not part of it).
pub fn target_url(secret: &SecretKey) -> Option<reqwest::Url> {
    reqwest::Url::parse(secret.expose().trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
}

impl Outbox {
    /// Reads every target's URL and starts the sender task; finished sends about bookings
    /// come back on `done`.
    pub fn start(
        targets: &[NotifyTarget],
        done: mpsc::UnboundedSender<Done>,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<Outbox, NotifyError> {
        let mut loaded = Vec::new();
        for t in targets {
            let secret = t.url.load().map_err(|source| NotifyError::Url {
                name: t.name.clone(),
                source,
            })?;
            let url = target_url(&secret).ok_or_else(|| NotifyError::BadUrl {
                name: t.name.clone(),
            })?;
            loaded.push(Target {
                config: t.clone(),
                url,
            });
        }
        let http = crate::api::client::http_builder(TIMEOUT).build()?;
        let targets = Arc::new(loaded);
        let (queue, jobs) = mpsc::channel(QUEUE);
        if !targets.is_empty() {
            tokio::spawn(
                Sender {
                    targets: targets.clone(),
                    http,
                    jobs,
                    done,
                    metrics: metrics.clone(),
                    slots: Arc::new(Semaphore::new(IN_FLIGHT)),
                }
                .run(),
            );
        }
        Ok(Outbox {
            targets,
            queue,
            metrics,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Whether a target of this name is configured.
    pub fn has(&self, name: &str) -> bool {
        self.targets.iter().any(|t| t.config.name == name)
    }

    /// The targets (by index, with their names) that hear about `event` on `definition`: the
    /// ones it names with `notify = [...]`, else those whose `definitions` globs match it
    /// (none: every definition).
    pub fn targets_for(
        &self,
        event: NotifyEvent,
        definition: &str,
        named: &[String],
    ) -> Vec<(usize, &str)> {
        self.targets
            .iter()
            .enumerate()
            .filter(|(_, t)| t.config.events.contains(&event))
            .filter(|(_, t)| {
                if !named.is_empty() {
                    return named.contains(&t.config.name);
                }
                t.config.definitions.is_empty()
                    || definition.is_empty()
                    || t.config
                        .definitions
                        .iter()
                        .any(|g| crate::definition::glob_match(g, definition))
            })
            .map(|(i, t)| (i, t.config.name.as_str()))
            .collect()
    }

    /// Queues `message` for target `target`; never waits. `mark` is what to record on the
    /// booking when the send is done.
    pub fn send(&self, target: usize, message: &Message, mark: Option<(BookingKey, String)>) {
        let Some(t) = self.targets.get(target) else {
            return;
        };
        let body = serde_json::to_vec(&message.body(t.config.kind)).unwrap_or_default();
        if self.queue.try_send(Job { target, body, mark }).is_err() {
            tracing::error!(
                target = %t.config.name,
                "notification dropped: {QUEUE} are waiting to be sent already"
            );
            count(&self.metrics, &t.config.name, "dropped");
        }
    }
}

fn count(metrics: &Option<Arc<Metrics>>, target: &str, outcome: &str) {
    if let Some(m) = metrics {
        m.notifications
            .get_or_create(&NotifyLabels {
                target: target.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }
}

/// The task that sends: each message in its own task, a bounded number at once.
struct Sender {
    targets: Arc<Vec<Target>>,
    http: reqwest::Client,
    jobs: mpsc::Receiver<Job>,
    done: mpsc::UnboundedSender<Done>,
    metrics: Option<Arc<Metrics>>,
    /// Sends in flight, so a hanging receiver ties up a few slots, not the machine.
    slots: Arc<Semaphore>,
}

impl Sender {
    /// Sends until the [`Outbox`] is dropped; then the sends still in flight are dropped with
    /// it (at a graceful stop the daemon waits for them first, see `drain_notifications`).
    async fn run(mut self) {
        let mut sends = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                job = self.jobs.recv() => {
                    let Some(job) = job else { return };
                    let Ok(slot) = self.slots.clone().acquire_owned().await else {
                        return;
                    };
                    let (targets, http, done, metrics) = (
                        self.targets.clone(),
                        self.http.clone(),
                        self.done.clone(),
                        self.metrics.clone(),
                    );
                    sends.spawn(async move {
                        let _slot = slot;
                        let Some(t) = targets.get(job.target) else {
                            return;
                        };
                        match deliver(&http, t, &job.body).await {
                            Ok(()) => count(&metrics, &t.config.name, "sent"),
                            Err(e) => {
                                tracing::error!(
                                    target = %t.config.name,
                                    "cannot notify after {TRIES} tries: {e}; the message is dropped"
                                );
                                count(&metrics, &t.config.name, "failed");
                            }
                        }
                        if let Some((key, mark)) = job.mark {
                            let _ = done.send(Done { key, mark });
                        }
                    });
                }
                Some(_) = sends.join_next(), if !sends.is_empty() => {}
            }
        }
    }
}

/// Posts `body`, retrying with backoff. The error never carries the URL.
async fn deliver(http: &reqwest::Client, t: &Target, body: &[u8]) -> Result<(), String> {
    let mut last = String::new();
    for attempt in 0..TRIES {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(1 << (attempt - 1))).await;
        }
        let sent = http
            .post(t.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec())
            .send()
            .await;
        match sent {
            Ok(mut resp) if resp.status().is_success() => {
                // A WeCom robot answers 200 with an error code in the body. Read a bounded
                // part of it: a receiver's answer must not grow the daemon.
                let mut body = Vec::new();
                while let Ok(Some(chunk)) = resp.chunk().await {
                    body.extend_from_slice(&chunk);
                    if body.len() > MAX_ANSWER {
                        break;
                    }
                }
                let text = String::from_utf8_lossy(&body);
                let code = serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| v.get("errcode").and_then(serde_json::Value::as_i64));
                match code {
                    Some(c) if c != 0 && t.config.kind == NotifyKind::Wecom => {
                        last = format!("the robot answered errcode {c}");
                    }
                    _ => return Ok(()),
                }
            }
            Ok(resp) => last = format!("HTTP {}", resp.status().as_u16()),
            Err(e) => last = e.without_url().to_string(),
        }
        tracing::debug!(target = %t.config.name, attempt, "notification not delivered: {last}");
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(event: NotifyEvent) -> Message {
        Message {
            event,
            definition: "team/standup".into(),
            occurrence: 1_893_488_400,
            subject: "Daily standup".into(),
            start: "2030-01-01T09:00:00+08:00".into(),
            timezone: "Asia/Shanghai".into(),
            join_url: Some("https://meeting.tencent.com/dm/123".into()),
            meeting_code: Some("123456789".into()),
            detail: None,
            definitions: vec![],
        }
    }

    #[test]
    fn each_kind_gets_its_own_body() {
        let m = message(NotifyEvent::Booked);
        assert_eq!(
            m.body(NotifyKind::Wecom),
            serde_json::json!({"msgtype": "markdown", "markdown": {"content":
                "**Booked: Daily standup**\n> When: 2030-01-01T09:00:00+08:00 (Asia/Shanghai)\n> Join: https://meeting.tencent.com/dm/123\n> Meeting code: 123456789\n> Definition: team/standup"}})
        );
        assert_eq!(
            m.body(NotifyKind::Slack),
            serde_json::json!({"text":
                "*Booked: Daily standup*\nWhen: 2030-01-01T09:00:00+08:00 (Asia/Shanghai)\nJoin: https://meeting.tencent.com/dm/123\nMeeting code: 123456789\nDefinition: team/standup"})
        );
        assert_eq!(
            m.body(NotifyKind::Webhook),
            serde_json::json!({
                "event": "booked",
                "definition": "team/standup",
                "occurrence": 1_893_488_400,
                "subject": "Daily standup",
                "start": "2030-01-01T09:00:00+08:00",
                "timezone": "Asia/Shanghai",
                "join_url": "https://meeting.tencent.com/dm/123",
                "meeting_code": "123456789",
                "detail": null
            })
        );
    }

    #[test]
    fn a_failed_reload_says_why_and_what_runs() {
        let reason = "config /etc/wemeet-scheduler/config.toml has 1 problem(s): /etc/wemeet-scheduler/config.toml:3:1: expected `]`";
        let m = Message {
            event: NotifyEvent::ReloadFailed,
            definition: String::new(),
            occurrence: 0,
            subject: String::new(),
            start: String::new(),
            timezone: String::new(),
            join_url: None,
            meeting_code: None,
            detail: Some(reason.into()),
            definitions: vec![],
        };
        let fix = "Fix the config and reload again: until then the daemon cannot restart";
        assert_eq!(
            m.body(NotifyKind::Wecom),
            serde_json::json!({"msgtype": "markdown", "markdown": {"content":
                format!("**Config reload FAILED: the previous config runs**\n> {reason}\n> {fix}")}})
        );
        assert_eq!(
            m.body(NotifyKind::Slack),
            serde_json::json!({"text":
                format!("*Config reload FAILED: the previous config runs*\n{reason}\n{fix}")})
        );
        assert_eq!(
            m.body(NotifyKind::Webhook),
            serde_json::json!({
                "event": "reload_failed",
                "definition": "",
                "occurrence": 0,
                "subject": "",
                "start": "",
                "timezone": "",
                "join_url": null,
                "meeting_code": null,
                "detail": reason
            })
        );
    }

    #[test]
    fn event_ids_tell_repeated_events_apart() {
        assert_eq!(message(NotifyEvent::Booked).event_id(0, 5), "booked");
        assert_eq!(message(NotifyEvent::Changed).event_id(2, 5), "changed:2");
        assert_eq!(message(NotifyEvent::Failed).event_id(0, 5), "failed:5");
    }
}
