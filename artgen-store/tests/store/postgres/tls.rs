//! TLS to Postgres: `sslmode` in `database_url` is honoured (the machine's Postgres serves TLS
//! with a self-signed certificate, as Debian installs it).

use std::time::Duration;

use artgen_store::{PostgresConfig, PostgresStore};

use super::{database_url, TestDb};

/// `url` with one more query parameter.
fn with_param(url: &str, param: &str) -> String {
    let glue = if url.contains('?') { '&' } else { '?' };
    format!("{url}{glue}{param}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_require_connects_over_tls() {
    let Some(url) = database_url("sslmode_require_connects_over_tls") else {
        return;
    };
    let db = TestDb::connect(&url).await;
    let server_ssl: String = sqlx::query_scalar("SHOW ssl")
        .fetch_one(&db.admin)
        .await
        .expect("SHOW ssl");
    assert_eq!(
        server_ssl, "on",
        "the test database must serve TLS (ssl = on, Debian's default) for this test"
    );
    let config = PostgresConfig::new(with_param(&url, "sslmode=require"))
        .with_schema(db.schema().await)
        .with_max_connections(2)
        .with_recover_after(Duration::ZERO);
    let store = db.store_with(config).await;
    let encrypted: bool =
        sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(store.pool())
            .await
            .expect("pg_stat_ssl of our own connection");
    assert!(encrypted, "sslmode=require gave a connection without TLS");
    store.close().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_verify_full_refuses_an_untrusted_certificate() {
    let Some(url) = database_url("sslmode_verify_full_refuses_an_untrusted_certificate") else {
        return;
    };
    let db = TestDb::connect(&url).await;
    let config = PostgresConfig::new(with_param(&url, "sslmode=verify-full"))
        .with_schema(db.schema().await)
        .with_max_connections(1)
        .with_acquire_timeout(Duration::from_secs(5));
    let refused = PostgresStore::connect(&config).await;
    // The connection pool may be lazy: then the first query must fail instead.
    let failed = match refused {
        Err(_) => true,
        Ok(store) => {
            let query = sqlx::query("SELECT 1").execute(store.pool()).await;
            store.close().await;
            query.is_err()
        }
    };
    assert!(
        failed,
        "verify-full accepted a certificate no system root signed (the machine's self-signed one)"
    );
    db.cleanup().await;
}
