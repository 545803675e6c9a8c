use std::sync::Arc;

use anyhow::{Context, Result};
use hatchery_engine::SystemClock;
use hatchery_web::{router, AppState};

use crate::config::{ensure_default_org, Config};

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:8080; env HATCHERY_LISTEN).
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
}

pub async fn run(mut cfg: Config, args: ServeArgs) -> Result<()> {
    if let Some(l) = args.listen {
        cfg.listen = l;
    }
    let store = cfg.connect().await?;
    let org = ensure_default_org(&store).await?;
    fail_abandoned_imports(&store).await?;
    // A process importing next to this server (`hatchery import`) may stop while the server runs.
    let sweeper = store.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(hatchery_store::imports::LEASE_RENEWAL * 4).await;
            if sweeper.is_closed() {
                return;
            }
            if let Err(e) = fail_abandoned_imports(&sweeper).await {
                if !sweeper.is_closed() {
                    tracing::warn!(error = %e, "looking for abandoned imports failed");
                }
            }
        }
    });
    std::fs::create_dir_all(cfg.upload_dir())
        .with_context(|| format!("cannot create {}", cfg.upload_dir().display()))?;
    let state = if cfg.intake_log {
        AppState::with_intake_log(
            store.clone(),
            Arc::new(SystemClock),
            cfg.upload_dir(),
            cfg.evaluator_workers,
            &cfg.intake_dir(),
        )
        .await
        .context("cannot open the intake log")?
    } else {
        AppState::new(
            store.clone(),
            Arc::new(SystemClock),
            cfg.upload_dir(),
            cfg.evaluator_workers,
        )
    };
    let ingestor = state.ingestor.clone();
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(backend = store.backend_name(), org.id = org.0, %addr, "hatchery started");
    println!(
        "Hatchery is running on {} ({}).",
        store.backend_name(),
        cfg.database_url
            .split('?')
            .next()
            .unwrap_or_default()
            .split('@')
            .next_back()
            .unwrap_or_default()
    );
    if cfg.intake_log {
        println!(
            "Tracking requests are answered once written to the intake log in {} (HATCHERY_INTAKE_LOG=false turns it off).",
            cfg.intake_dir().display()
        );
    }
    println!("Console: http://{addr}/ (the first visit creates the first administrator)");
    println!("Next: `hatchery admin source create --name Website --kind website` for a write key.");
    // The connection's address feeds sign-in throttling (per email and client address).
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await?;
    // Logged tracking requests are applied before the store closes, so the next start has
    // nothing to replay; what is left after the wait is replayed then.
    if ingestor.logs_intake()
        && tokio::time::timeout(std::time::Duration::from_secs(10), ingestor.flush())
            .await
            .is_err()
    {
        tracing::warn!(
            messages = ingestor.backlog(),
            "stopping with logged tracking messages not yet applied; they are applied at the next start"
        );
    }
    // Imports still queued or running end with the server; say so now rather than when their
    // leases run out.
    match store
        .fail_own_imports(chrono::Utc::now().timestamp_millis())
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::warn!(imports = n, "imports interrupted by the stop marked failed"),
        Err(e) => tracing::warn!(error = %e, "marking interrupted imports failed did not work"),
    }
    store.close().await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM (what service managers and container runtimes send); requests in
/// flight finish and the store is closed cleanly.
async fn shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("shutting down");
}

/// Marks failed the imports whose process stopped without finishing them (their lease ran out).
async fn fail_abandoned_imports(store: &hatchery_store::Store) -> Result<()> {
    let failed = store
        .fail_interrupted_imports(chrono::Utc::now().timestamp_millis())
        .await?;
    if failed > 0 {
        tracing::warn!(
            imports = failed,
            "marked imports abandoned by a stopped process as failed"
        );
    }
    Ok(())
}
