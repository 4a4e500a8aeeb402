//! Retention as an operator meets it: `artgen purge` on a data folder whose images and
//! prompts are past the retention period removes them and keeps the spend.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use artgen_core::domain::{GenerateParams, Principal, RequestId, Role};
use artgen_core::RequestContext;
use artgen_http::compose;
use artgen_http::metrics::Metrics;
use artgen_http::settings::Settings;

const DAY_MS: i64 = 86_400_000;

/// Every file under `dir`.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// Runs `artgen purge` on `data_dir`, small images kept in the database up to `inline` bytes.
fn purge(data_dir: &Path, inline: u64, args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_artgen"))
        .env_remove("OPENAI_API_KEY")
        .env_remove("ARTGEN_CONFIG")
        .env("ARTGEN_DATA_DIR", data_dir)
        .env("ARTGEN_IMAGES_INLINE_MAX_BYTES", inline.to_string())
        .env("ARTGEN_LOG_FORMAT", "json")
        .arg("purge")
        .args(args)
        .output()
        .expect("runs");
    (
        output.status.code(),
        String::from_utf8(output.stdout).expect("utf-8"),
        String::from_utf8(output.stderr).expect("utf-8"),
    )
}

/// Blob rows in the database at `db`.
async fn blob_rows(db: &sqlx::SqlitePool) -> usize {
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM blobs")
        .fetch_one(db)
        .await
        .expect("counts blobs");
    usize::try_from(rows).expect("a count")
}

#[tokio::test]
async fn purge_removes_images_and_prompts_past_the_period_and_keeps_the_spend() {
    purge_case(0).await;
}

#[tokio::test]
async fn purge_removes_the_rows_of_small_images_kept_in_the_database() {
    purge_case(artgen_http::settings::DEFAULT_IMAGES_INLINE_MAX_BYTES).await;
}

/// Two images, one 40 days old, kept as files (`inline` 0) or as rows of the database.
async fn purge_case(inline: u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = Settings {
        data_dir: dir.path().to_path_buf(),
        images_inline_max_bytes: inline,
        ..Settings::default()
    };
    let metrics = Arc::new(Metrics::new());
    let upstreams = compose::upstreams(&settings, &|_| None, &metrics).expect("mock upstream");
    let app = compose::build(&settings, upstreams, metrics)
        .await
        .expect("app builds");
    let service = app.state.service().clone();
    let mut made = Vec::new();
    for prompt in ["an old secret", "a recent one"] {
        let ctx = RequestContext::new(RequestId::generate(), Principal::new("ann", Role::User));
        let params = GenerateParams {
            model: "dall-e-2".into(),
            prompt: prompt.into(),
            size: Some("256x256".into()),
            ..Default::default()
        };
        made.push(service.generate(&ctx, params).await.expect("generates"));
    }
    app.stores.backend.close().await;
    drop(app);
    let images_dir = dir.path().join("images");
    // The first request happened 40 days ago.
    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        dir.path().join("artgen.db").display()
    ))
    .await
    .expect("opens the database");
    let (in_files, in_rows) = if inline == 0 { (2, 0) } else { (0, 2) };
    assert_eq!(files(&images_dir).len(), in_files, "one blob per image");
    assert_eq!(blob_rows(&db).await, in_rows, "one blob per image");
    let old = made[0].request_id.as_str();
    for table in ["usage", "images"] {
        sqlx::query(&format!(
            "UPDATE {table} SET created_at_ms = created_at_ms - ? WHERE request_id = ?"
        ))
        .bind(40 * DAY_MS)
        .bind(old)
        .execute(&db)
        .await
        .expect("ages the rows");
    }

    let (code, stdout, stderr) = purge(dir.path(), inline, &[]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Removed 1 images (1 blobs) and 1 prompts older than 30 days"),
        "{stdout}"
    );
    assert_eq!(
        (files(&images_dir).len(), blob_rows(&db).await),
        (in_files / 2, in_rows / 2),
        "the old image's blob is gone"
    );
    let rows: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT request_id, prompt, cost_micros FROM usage ORDER BY created_at_ms")
            .fetch_all(&db)
            .await
            .expect("reads usage");
    assert_eq!(rows.len(), 2, "usage rows stay");
    assert_eq!(rows[0].0, old);
    assert_eq!(rows[0].1, "", "the old prompt is forgotten");
    assert_eq!(
        u64::try_from(rows[0].2).expect("cost"),
        made[0].cost.micros(),
        "the spend stays"
    );
    assert_eq!(rows[1].1, "a recent one");
    let images: i64 = sqlx::query_scalar("SELECT count(*) FROM images")
        .fetch_one(&db)
        .await
        .expect("counts images");
    assert_eq!(images, 1);

    // Nothing left to remove; a period shorter than the age of the recent one is refused
    // only when it is zero.
    let (code, stdout, _) = purge(dir.path(), inline, &[]);
    assert_eq!(code, Some(0));
    assert!(
        stdout.contains("Removed 0 images (0 blobs) and 0 prompts"),
        "{stdout}"
    );
    let (code, _, stderr) = purge(dir.path(), inline, &["--older-than-days", "0"]);
    assert_eq!(code, Some(2), "{stderr}");
}
