//! `wemeet-scheduler fake-api`: the fake WeMeet API as a process, for trying the daemon out
//! and for load tools. Serves until the shutdown future completes (Ctrl-C on the CLI).

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;

use wemeet_fake_api::{FakeApi, FakeConfig};

/// Starts the fake on `listen`, prints where it listens, serves until `shutdown`.
pub async fn run(
    config: FakeConfig,
    listen: SocketAddr,
    out: &mut (dyn Write + Send),
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let faults = &config.faults;
    let shown =
        |f: &Option<wemeet_fake_api::ErrorFault>| f.map_or("off".to_string(), |f| f.to_string());
    let summary = format!(
        "500:{} rate-limit:{} slow:{}({:?}) hang:{}({:?}) reset:{} create-error:{} modify-error:{} cancel-error:{}",
        faults.internal_error,
        faults.rate_limited,
        faults.slow,
        faults.latency,
        faults.create_then_hang,
        faults.hang_for,
        faults.create_then_reset,
        shown(&faults.create_error),
        shown(&faults.modify_error),
        shown(&faults.cancel_error)
    );
    let (app_id, secret_id) = (config.app_id.clone(), config.secret_id.clone());
    let fake = FakeApi::start(config, listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    writeln!(
        out,
        "fake WeMeet API listening on {} (app id {app_id:?}, secret id {secret_id:?}; faults {summary})",
        fake.base_url()
    )?;
    out.flush()?;
    shutdown.await;
    let stats = fake.stats();
    let journal = fake.journal();
    fake.shutdown().await;
    let mut errors: Vec<String> = stats
        .errors
        .iter()
        .map(|(code, n)| format!("{code}: {n}"))
        .collect();
    errors.sort();
    writeln!(
        out,
        "fake WeMeet API stopped after {} requests; {} creates, {} modifies, {} cancels; error answers {{{}}}",
        stats.requests,
        journal.iter().filter(|e| e.op == "create").count(),
        journal.iter().filter(|e| e.op == "modify").count(),
        journal.iter().filter(|e| e.op == "cancel").count(),
        errors.join(", ")
    )?;
    Ok(())
}
