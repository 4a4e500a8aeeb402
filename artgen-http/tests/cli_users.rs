//! `artgen users …` and the audit trail the command line writes, as an operator meets them.

use std::path::Path;
use std::process::Command;

use artgen_core::ports::{AuditLog as _, AuditQuery, UserStore as _};
use artgen_store::SqliteStore;

/// Runs `artgen` on the data folder; (exit code, stdout, stderr).
fn run(data_dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_artgen"))
        .env_remove("OPENAI_API_KEY")
        .env_remove("ARTGEN_CONFIG")
        .env("ARTGEN_DATA_DIR", data_dir)
        .env("ARTGEN_LOG_FORMAT", "json")
        .args(args)
        .output()
        .expect("runs");
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    let stderr = String::from_utf8(output.stderr).expect("utf-8");
    (output.status.code(), stdout, stderr)
}

fn ok(data_dir: &Path, args: &[&str]) -> String {
    let (code, stdout, stderr) = run(data_dir, args);
    assert_eq!(code, Some(0), "{args:?}: {stderr}");
    stdout
}

#[tokio::test]
async fn users_commands_change_the_rows_and_write_the_audit_trail() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path();

    let created = ok(data, &["users", "create", "lisa", "--org", "acme"]);
    let again = ok(data, &["users", "create", "lisa"]);
    ok(
        data,
        &[
            "users",
            "limits",
            "lisa",
            "--budget-usd",
            "12.5",
            "--rate-per-minute",
            "30",
        ],
    );
    ok(data, &["users", "limits", "lisa", "--budget-usd", "none"]);
    ok(data, &["users", "disable", "lisa"]);
    let listed = ok(data, &["users", "list"]);
    ok(data, &["users", "enable", "lisa"]);
    let key = ok(data, &["keys", "create", "--user", "lisa"]);
    let key = key.lines().last().expect("the key").trim().to_owned();
    let keys = ok(data, &["keys", "list"]);
    ok(data, &["keys", "revoke", &key]);

    assert!(created.starts_with("Created user 'lisa'."), "{created}");
    assert!(again.starts_with("Already had user 'lisa'."), "{again}");
    assert!(
        listed.contains("lisa  org=acme  budget_usd=default"),
        "{listed}"
    );
    assert!(listed.contains("rate_per_minute=30"), "{listed}");
    assert!(listed.trim_end().ends_with("disabled"), "{listed}");
    assert!(keys.contains("created=20"), "{keys}");
    assert!(keys.contains("last_used=never  active"), "{keys}");

    let store = SqliteStore::open(&data.join("artgen.db"))
        .await
        .expect("the database opens");
    let row = store.get_user("lisa").await.expect("get").expect("a row");
    assert!(!row.disabled);
    assert_eq!(row.limits.rate_limit_per_minute, Some(30));
    assert_eq!(row.limits.budget_usd_per_month, None);
    let audit = store
        .list(&AuditQuery {
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .expect("audit");
    let actions: Vec<&str> = audit.iter().rev().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "user.created",
            "user.limits.set",
            "user.limits.set",
            "user.disabled",
            "user.enabled",
            "key.created",
            "key.revoked"
        ]
    );
    assert!(audit
        .iter()
        .all(|e| e.actor == "cli" && e.credential_id.is_none()));
    assert!(
        !format!("{audit:?}").contains(&key),
        "no secret in the audit trail"
    );
    store.close().await;
}

#[test]
fn bad_arguments_are_one_line_usage_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    for args in [
        &["users", "limits", "lisa"][..],
        &["users", "limits", "lisa", "--budget-usd", "-3"],
        &["users", "limits", "lisa", "--rate-burst", "ten"],
        &["users", "limits", "lisa", "--rate-per-minute", "0"],
        &["users", "create", ""],
    ] {
        let (code, _, stderr) = run(dir.path(), args);

        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error"), "{args:?}: {stderr}");
    }
}
