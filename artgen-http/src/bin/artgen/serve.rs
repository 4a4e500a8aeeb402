//! `artgen serve`.

use std::time::Duration;

use anyhow::{Context as _, Result};
use artgen_core::domain::{KeyEnv, Role};
use artgen_core::ports::{Clock as _, SystemClock};
use artgen_http::compose;
use artgen_http::server::ServerConfig;
use artgen_http::settings::Settings;
use std::sync::Arc;

use artgen_http::metrics::Metrics;

pub(crate) async fn run(mut settings: Settings) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(settings.bind)
        .await
        .with_context(|| format!("binding {}", settings.bind))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    settings.bind = bound;
    let metrics = Arc::new(Metrics::new());
    let upstreams = compose::upstreams(&settings, &|var| std::env::var(var).ok(), &metrics)?;
    let app = compose::build(&settings, upstreams, metrics).await?;

    if app.state.provider().mock {
        tracing::warn!(
            "NO {} SET: using the MOCK provider. Images are generated test patterns and cost nothing. \
             Set {} to call OpenAI.",
            settings.openai.api_key_env,
            settings.openai.api_key_env
        );
    }
    if app.stores.keys.count().await? == 0 {
        let key = app
            .stores
            .keys
            .create("admin", Role::Admin, KeyEnv::Live)
            .await?;
        first_start_banner(key.expose_secret());
    }

    let idempotency = app.stores.idempotency.clone();
    let backend = app.stores.backend.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            backend.housekeeping().await;
            match idempotency.purge_expired(SystemClock.now_ms()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(purged = n, "expired idempotency records removed"),
                Err(err) => tracing::warn!(error = %err, "idempotency purge failed"),
            }
        }
    });
    settings.retention.spawn_purger(app.state.service().clone());
    let limiter = app.limiter.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            limiter.housekeeping();
        }
    });

    // The handlers are installed before the server says it is listening: a SIGTERM that
    // arrives right after must drain, not kill the process.
    let shutdown = shutdown_signal();
    tracing::info!(
        bind = %bound,
        data_dir = %settings.data_dir.display(),
        provider = app.state.provider().name,
        "artgen listening"
    );
    let backend = app.stores.backend.clone();
    let router = artgen_http::build_router(app.state);
    let server = ServerConfig::from_settings(&settings);
    artgen_http::server::serve(listener, router, server, shutdown).await;
    // Every usage write queued by the drained requests is committed (or spooled) first.
    backend.close().await;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Shows the first admin key on stderr, once. Not on stdout, where log collectors read JSON
/// lines (and would index the key with them), and not in a file: the data folder would then
/// hold the secret in clear, while whoever can open the database there can already mint an
/// admin key with `artgen keys create --admin` (see docs/decisions.md).
fn first_start_banner(key: &str) {
    eprintln!(
        "\n================================================================\n\
         First start: created an admin API key. It is shown only once:\n\n{key}\n\n\
         Use it as 'Authorization: Bearer <key>'. Create more with 'artgen keys create';\n\
         lost it? 'artgen keys create --user NAME --admin' on the same data folder.\n\
         ================================================================\n"
    );
}

/// Installs the SIGINT and SIGTERM handlers now and returns a future that resolves on either;
/// the server then stops accepting and drains in-flight requests within its grace period.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |signal: std::io::Result<tokio::signal::unix::Signal>,
                        name: &'static str| async move {
                match signal {
                    Ok(mut signal) => {
                        signal.recv().await;
                    }
                    Err(err) => {
                        tracing::error!(error = %err, "cannot listen for {name}");
                        std::future::pending::<()>().await;
                    }
                }
            };
            let (interrupt, terminate) = signals;
            tokio::select! {
                () = wait(interrupt, "SIGINT") => {},
                () = wait(terminate, "SIGTERM") => {},
            }
        }
        #[cfg(not(unix))]
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
        tracing::info!("shutdown signal received; draining in-flight requests");
    }
}
