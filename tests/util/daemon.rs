//! One helper that starts the daemon on a temp dir against the in-process fake API on port 0,
//! with a manual clock, so tests drop files, move time and read what happened.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use tokio::sync::{mpsc, oneshot};
use wemeet_fake_api::{
    DEMO_APP_ID, DEMO_SECRET_ID, DEMO_SECRET_KEY, FakeApi, FakeConfig, FaultSpec, Faults,
};
use wemeet_scheduler::clock::ManualClock;
use wemeet_scheduler::config::{Config, SecretKey, SecretSource};
use wemeet_scheduler::daemon::{self, DaemonError, Event, Mode, Options, Summary};
use wemeet_scheduler::state::State;

use super::fake::{DocsFake, Kind, TestFake};

/// Tuesday 1 January 2030, 00:00 UTC: the tests' "now" (in the future for the fake, which
/// lists only upcoming meetings by the real clock).
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0)
        .single()
        .expect("valid time")
}

/// How long a test waits for something the daemon must do before failing (a safety net,
/// not a timing assumption: every wait ends as soon as the event arrives).
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The faults that make a create's outcome unclear, as the exactly-once suites use them: 5%
/// created then the answer held 30 s, 5% created then the connection reset.
pub fn unclear_creates(seed: u64) -> FakeConfig {
    FakeConfig {
        faults: Faults {
            create_then_hang: FaultSpec::Rate(0.05),
            hang_for: Duration::from_secs(30),
            create_then_reset: FaultSpec::Rate(0.05),
            ..Faults::default()
        },
        seed,
        ..FakeConfig::default()
    }
}

pub struct Env {
    pub dir: tempfile::TempDir,
    pub fake: TestFake,
    pub clock: Arc<ManualClock>,
    pub config: Config,
    /// The config, also as a file (for the binary and `status`).
    pub config_path: PathBuf,
    /// With `WEMEET_TEST_STORE=postgres`, the server holding the store (else the SQLite file).
    pub postgres: Option<super::postgres::Postgres>,
}

impl Env {
    pub async fn new(fake: FakeConfig) -> Env {
        Self::with_config(fake, |text| text).await
    }

    /// Like [`Env::new`], with the config text edited by `edit` first.
    pub async fn with_config(fake: FakeConfig, edit: impl FnOnce(String) -> String) -> Env {
        Self::against(Kind::Ours, fake, edit).await
    }

    /// Like [`Env::with_config`], against the fake of `kind`: ours, or the second fake with
    /// `fake`'s faults (check [`super::fake::docs_fake_here`] first).
    pub async fn against(kind: Kind, fake: FakeConfig, edit: impl FnOnce(String) -> String) -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        // The project's tests hold the client to the seed spec too (settings with its keys),
        // and the fake's quotas run on the test's clock.
        let clock = Arc::new(ManualClock::new(t0()));
        let fake = FakeConfig {
            strict_spec: true,
            quota_clock: Some(clock.clone()),
            ..fake
        };
        let fake = match kind {
            Kind::Ours => TestFake::Ours(
                FakeApi::start(fake, "127.0.0.1:0".parse().expect("address"))
                    .await
                    .expect("fake API starts"),
            ),
            Kind::Docs => TestFake::Docs(DocsFake::start(&fake)),
        };
        let watch = dir.path().join("meetings.d");
        std::fs::create_dir_all(&watch).expect("watch dir");
        let state = dir.path().join("state/state.db");
        // A state as an earlier start leaves it: without one, the daemon first looks up what
        // a lost state may have booked (the recovery tests remove it).
        wemeet_scheduler::store::create_empty(&state).expect("empty store");
        let config_text = format!(
            "[api]\nbase_url = \"{}\"\napp_id = \"{DEMO_APP_ID}\"\nsecret_id = \"{DEMO_SECRET_ID}\"\nsecret_key = \"{DEMO_SECRET_KEY}\"\ntimeout = \"1s\"\nrequests_per_minute = 0\nconcurrency = 4\n\n[retry]\nmax_attempts = 4\nbase_delay = \"5ms\"\nmax_delay = \"50ms\"\n\n[watch]\ndir = \"{}\"\nrescan_interval = \"1h\"\n\n[state]\nfile = \"{}\"\n\n[defaults]\nuserid = \"ops-bot\"\ntimezone = \"UTC\"\nbook_ahead = \"2d\"\n",
            fake.base_url(),
            watch.display(),
            state.display()
        );
        let mut config_text = edit(config_text);
        // The same tests on the PostgreSQL store, when asked (`.ci/run` runs the crash suite
        // and the fault matrix so).
        let postgres = (std::env::var("WEMEET_TEST_STORE").as_deref() == Ok("postgres")
            && !config_text.contains("url = \"postgres"))
        .then(super::postgres::Postgres::start);
        if let Some(pg) = &postgres {
            let url = pg.database("wemeet");
            // An empty store known to be whole, as for SQLite above.
            wemeet_scheduler::store::postgres::blocking(&url, Duration::from_secs(3), async |db| {
                db.replace(&State::default(), &Default::default()).await
            })
            .expect("empty PostgreSQL store");
            config_text = config_text.replacen(
                "[state]\n",
                &format!("[state]\nurl = \"{url}\"\ntakeover = \"3s\"\n"),
                1,
            );
        }
        let config_path = dir.path().join("config.toml");
        std::fs::write(&config_path, &config_text).expect("write config");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&config_path, std::fs::Permissions::from_mode(0o600))
                .expect("chmod config");
        }
        let mut config = Config::load(&config_path).expect("test config is valid");
        config.api.secret_key = SecretSource::Inline(SecretKey::new(DEMO_SECRET_KEY));
        Env {
            dir,
            fake,
            clock,
            config,
            config_path,
            postgres,
        }
    }

    pub fn watch_dir(&self) -> &Path {
        &self.config.watch.dir
    }

    /// Writes a definition file below the watch dir.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        super::write(self.watch_dir(), rel, text)
    }

    pub fn state(&self) -> State {
        wemeet_scheduler::store::read_for(&self.config.state).expect("state reads")
    }

    /// Whether the store's files (the database and its write-ahead log) hold `needle`.
    pub fn state_holds(&self, needle: &[u8]) -> bool {
        let path = &self.config.state.file;
        [path.clone(), path.with_extension("db-wal")]
            .iter()
            .filter_map(|p| std::fs::read(p).ok())
            .any(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
    }

    pub fn creates(&self) -> usize {
        self.fake
            .journal()
            .iter()
            .filter(|e| e.op == "create")
            .count()
    }

    /// The binary with `SUBCOMMAND --config <this env's config>`, quiet, without systemd,
    /// stdout discarded: for tests that run the daemon as a process.
    pub fn command(&self, subcommand: &str) -> std::process::Command {
        let mut c = super::binary();
        c.args([subcommand, "--config"])
            .arg(&self.config_path)
            .stdout(std::process::Stdio::null());
        c
    }

    /// Starts the daemon in-process.
    pub fn start(&self, mode: Mode) -> Running {
        let (events_tx, events) = mpsc::unbounded_channel();
        let (reload_tx, reloads) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let options = Options {
            mode,
            config_path: Some(self.config_path.clone()),
            clock: self.clock.clone(),
            events: Some(events_tx),
            reloads: Some(reloads),
            systemd: false,
            watch: mode == Mode::Run,
            drain_timeout: Duration::from_secs(5),
            stop_now: None,
            check_incremental: true,
        };
        let handle = tokio::spawn(daemon::run(self.config.clone(), options, async move {
            let _ = stop_rx.await;
        }));
        Running {
            events,
            stop: Some(stop_tx),
            reload: reload_tx,
            handle,
        }
    }
}

pub struct Running {
    pub events: mpsc::UnboundedReceiver<Event>,
    stop: Option<oneshot::Sender<()>>,
    pub reload: mpsc::UnboundedSender<()>,
    handle: tokio::task::JoinHandle<Result<Summary, DaemonError>>,
}

impl Running {
    /// The next event that `pick` accepts; other events are skipped.
    pub async fn wait_for<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(&Event) -> Option<T>,
    ) -> T {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(e)) => {
                    if let Some(t) = pick(&e) {
                        return t;
                    }
                }
                Ok(None) => panic!("the daemon stopped before {what}"),
                Err(_) => panic!("no {what} within {PATIENCE:?}"),
            }
        }
    }

    /// Waits for `n` bookings; returns their keys as `definition@start`.
    pub async fn booked(&mut self, n: usize) -> Vec<String> {
        let mut keys = Vec::new();
        while keys.len() < n {
            keys.push(
                self.wait_for("a booking", |e| match e {
                    Event::Booked { key, .. } => Some(key.to_string()),
                    _ => None,
                })
                .await,
            );
        }
        keys.sort();
        keys
    }

    pub async fn ready(&mut self) {
        self.wait_for("ready", |e| matches!(e, Event::Ready { .. }).then_some(()))
            .await;
    }

    /// Asks for shutdown and waits for the summary.
    pub async fn stop(mut self) -> Summary {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.finish().await
    }

    /// Ends the daemon abruptly, as a kill would: no draining, no last flush.
    pub async fn kill(self) {
        self.handle.abort();
        let _ = self.handle.await;
    }

    /// Waits for the daemon to end by itself; its error as text when it fails.
    pub async fn try_finish(self) -> Result<Summary, String> {
        tokio::time::timeout(PATIENCE, self.handle)
            .await
            .expect("the daemon stops in time")
            .expect("the daemon task does not panic")
            .map_err(|e| e.to_string())
    }

    /// Waits for the daemon to end by itself (`once`).
    pub async fn finish(self) -> Summary {
        self.finish_within(PATIENCE).await
    }

    /// [`Running::finish`] with a longer safety net, for big backlogs.
    pub async fn finish_within(self, patience: Duration) -> Summary {
        tokio::time::timeout(patience, self.handle)
            .await
            .expect("the daemon stops in time")
            .expect("the daemon task does not panic")
            .expect("the daemon ends without error")
    }
}
