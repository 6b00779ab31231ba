//! A throwaway PostgreSQL server for the tests: `initdb` into a temp dir and `pg_ctl start` on
//! a free loopback port, from the system's binaries (`.ci/run` installs Debian's `postgresql`
//! when they are missing). As root, the server runs as the `postgres` user (or `nobody`):
//! PostgreSQL refuses to run as root. Stopped (immediately) when dropped.
//!
//! Without the binaries a test says plainly that it did not run ([`here`]); under CI
//! (`CI=true`), where `.ci/run` installs them, that is a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct Postgres {
    _dir: tempfile::TempDir,
    data: PathBuf,
    bin: PathBuf,
    user: Option<String>,
    pub port: u16,
}

/// Where `initdb` and `pg_ctl` are: `pg_config --bindir`, Debian's versioned directory, or PATH.
fn find_bindir() -> Option<PathBuf> {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return Some(dir);
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    if let Some(dir) = versions
        .into_iter()
        .rev()
        .find(|d| d.join("initdb").exists())
    {
        return Some(dir);
    }
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        if Path::new(dir).join("initdb").exists() {
            return Some(PathBuf::from(dir));
        }
    }
    None
}

fn bindir() -> PathBuf {
    find_bindir().unwrap_or_else(|| {
        panic!(
            "no PostgreSQL server binaries (initdb, pg_ctl): install them (Debian: apt-get install postgresql); .ci/run does"
        )
    })
}

/// Whether a test that needs a PostgreSQL server can run here. Without the server binaries it
/// says so plainly on stderr and returns false; under CI (`CI=true`) it panics instead.
pub fn here(test: &str) -> bool {
    if find_bindir().is_some() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "{test} must run in CI, and there are no PostgreSQL server binaries (initdb, pg_ctl)"
        );
    }
    eprintln!(
        "NOT RUN: {test}: no PostgreSQL server binaries (initdb, pg_ctl); install them (Debian: apt-get install postgresql) to run it"
    );
    false
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Postgres {
    pub fn start() -> Postgres {
        let bin = bindir();
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let user = is_root().then(|| {
            let exists = |u: &str| {
                Command::new("id")
                    .arg(u)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            };
            if exists("postgres") {
                "postgres".to_string()
            } else {
                "nobody".to_string()
            }
        });
        if let Some(u) = &user {
            let ok = Command::new("chown")
                .args(["-R", u])
                .arg(dir.path())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "chown the temp dir to {u}");
        }
        let pg = Postgres {
            _dir: dir,
            data,
            bin,
            user,
            port: free_port(),
        };
        pg.run(
            "initdb",
            &[
                "-D",
                pg.data.to_str().expect("utf-8 path"),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c max_connections=50",
            pg.port,
            pg.data.display()
        );
        pg.run(
            "pg_ctl",
            &[
                "-D",
                pg.data.to_str().expect("utf-8 path"),
                "-o",
                &options,
                "-l",
                pg.data.join("log").to_str().expect("utf-8 path"),
                "-w",
                "start",
            ],
        );
        pg
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let exe = self.bin.join(tool);
        let mut cmd = match &self.user {
            Some(u) => {
                let mut c = Command::new("runuser");
                c.args(["-u", u, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let out = cmd
            .args(args)
            .current_dir("/")
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", exe.display()));
        assert!(
            out.status.success(),
            "{tool} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A URL for a new, empty database on this server.
    pub fn database(&self, name: &str) -> String {
        self.sql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(name)
    }

    /// Runs `query` on database `db` with psql; its output, unaligned and without headers.
    pub fn sql(&self, db: &str, query: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                db,
                "-At",
                "-c",
                query,
            ])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "{query}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.data.to_str().unwrap_or_default().to_string();
        let exe = self.bin.join("pg_ctl");
        let mut cmd = match &self.user {
            Some(u) => {
                let mut c = Command::new("runuser");
                c.args(["-u", u, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let _ = cmd
            .args(["-D", &data, "-m", "immediate", "stop"])
            .current_dir("/")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
