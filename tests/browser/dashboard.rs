//! The admin dashboard shows exactly what the usage store holds: requests seeded through the
//! API with two users' keys and two models, then the page's per-user and per-model tables read
//! in the browser and compared cell by cell with the service's usage summary.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::scenarios::{Ctx, Fallible, Outcome};

/// One group's totals: requests, images, tokens, cost in dollars.
type Totals = (u64, u64, u64, f64);

/// `GET /admin/usage` (the service's usage summary) for `group_by` over the dashboard's
/// period, by group key.
async fn summary(
    ctx: &Ctx,
    group_by: &str,
    from: &str,
    to: &str,
) -> Fallible<BTreeMap<String, Totals>> {
    let answer = ctx
        .app
        .get(
            &format!("/admin/usage?group_by={group_by}&from={from}&to={to}"),
            Some(&ctx.app.admin_key),
        )
        .await;
    ensure!(
        answer.status().is_success(),
        "GET /admin/usage?group_by={group_by} answered {}",
        answer.status()
    );
    let body: Value = answer.json().await?;
    let rows = body["rows"]
        .as_array()
        .ok_or_else(|| format!("/admin/usage has no rows: {body}"))?;
    Ok(rows
        .iter()
        .map(|row| {
            let key = row["key"].as_str().unwrap_or("(none)").to_owned();
            let n = |field: &str| row[field].as_u64().unwrap_or(0);
            (
                key,
                (
                    n("requests"),
                    n("images"),
                    n("tokens"),
                    row["cost_usd"].as_f64().unwrap_or(f64::NAN),
                ),
            )
        })
        .collect())
}

/// The rows of the dashboard's `table#{id}`: the row header, then each cell's text.
async fn table(ctx: &Ctx, id: &str) -> Fallible<BTreeMap<String, Vec<String>>> {
    let rows = ctx
        .client
        .execute(
            "return Array.from(document.querySelectorAll('table#' + arguments[0] + ' tbody tr'))\
               .filter(tr => tr.querySelector('th'))\
               .map(tr => [tr.querySelector('th').textContent.trim(),\
                           Array.from(tr.querySelectorAll('td')).map(td => td.textContent.trim())]);",
            vec![json!(id)],
        )
        .await?;
    let rows: Vec<(String, Vec<String>)> = serde_json::from_value(rows)?;
    Ok(rows.into_iter().collect())
}

/// A cell that reads as a whole number.
fn count(cell: &str) -> Option<u64> {
    cell.replace([',', ' ', '\u{a0}'], "").parse().ok()
}

/// A cell that reads as dollars (`$0.0400`).
fn cost(cell: &str) -> Option<f64> {
    cell.trim()
        .trim_start_matches("US")
        .trim_start_matches('$')
        .replace(',', "")
        .parse()
        .ok()
}

/// Checks one table against the summary: the same groups, and per group the same requests,
/// images and tokens, and the cost to the precision the page shows.
fn compare(
    what: &str,
    shown: &BTreeMap<String, Vec<String>>,
    held: &BTreeMap<String, Totals>,
) -> Vec<String> {
    let mut wrong = Vec::new();
    let shown_keys: Vec<&String> = shown.keys().collect();
    let held_keys: Vec<&String> = held.keys().collect();
    if shown_keys != held_keys {
        wrong.push(format!(
            "{what}: the page lists {shown_keys:?}, the usage store {held_keys:?}"
        ));
    }
    for (key, &(requests, images, tokens, usd)) in held {
        let Some(cells) = shown.get(key) else {
            continue;
        };
        let [r, i, t, c] = cells.as_slice() else {
            wrong.push(format!(
                "{what} {key}: expected 4 cells, the page has {cells:?}"
            ));
            continue;
        };
        let decimals = c.rsplit_once('.').map_or(0, |(_, d)| d.len());
        let precision = 0.5 * 10f64.powi(-i32::try_from(decimals).unwrap_or(0));
        let checks = [
            (
                "requests",
                count(r) == Some(requests),
                r.clone(),
                requests.to_string(),
            ),
            (
                "images",
                count(i) == Some(images),
                i.clone(),
                images.to_string(),
            ),
            (
                "tokens",
                count(t) == Some(tokens),
                t.clone(),
                tokens.to_string(),
            ),
            (
                "cost",
                cost(c).is_some_and(|shown| (shown - usd).abs() <= precision + 1e-12),
                c.clone(),
                format!("${usd}"),
            ),
        ];
        for (column, ok, on_page, in_store) in checks {
            if !ok {
                wrong.push(format!(
                    "{what} {key} {column}: the page shows {on_page}, the usage store holds {in_store}"
                ));
            }
        }
    }
    wrong
}

/// Seeds 3 images for one user (dall-e-2, two requests) and 2 for another (gpt-image-1.5,
/// one request), then checks the dashboard's per-user and per-model tables.
pub(crate) async fn numbers(ctx: &Ctx) -> Outcome {
    let app = &ctx.app;
    ctx.signed_in_as(&app.admin_key).await?;
    ctx.client.goto(&ctx.url("/ui/admin")).await?;
    let from = ctx
        .wait_css("input#from")
        .await?
        .prop("value")
        .await?
        .unwrap_or_default();
    let to = ctx
        .wait_css("input#to")
        .await?
        .prop("value")
        .await?
        .unwrap_or_default();
    ensure!(
        !from.is_empty() && !to.is_empty(),
        "the dashboard states no period (from {from:?}, to {to:?})"
    );
    let before = summary(ctx, "user", &from, &to).await?;

    let seed = [
        (
            &app.user_key,
            json!({"model": "dall-e-2", "prompt": "a pebble", "size": "256x256", "n": 1}),
        ),
        (
            &app.user_key,
            json!({"model": "dall-e-2", "prompt": "two pebbles", "size": "256x256", "n": 2}),
        ),
        (
            &app.other_key,
            json!({"model": "gpt-image-1.5", "prompt": "a shell", "size": "1024x1024", "quality": "low", "n": 2}),
        ),
    ];
    for (key, body) in &seed {
        let answer = app.generate(Some(key), body).await;
        ensure!(
            answer.status().is_success(),
            "seeding {body} answered {}: {}",
            answer.status(),
            answer.text().await.unwrap_or_default()
        );
    }
    let by_user = summary(ctx, "user", &from, &to).await?;
    let by_model = summary(ctx, "model", &from, &to).await?;
    // The store counted the seed: the comparison below is of real, known figures.
    for (user, requests, images) in [("lisa", 2, 3), ("somchai", 1, 2)] {
        let was = before.get(user).copied().unwrap_or((0, 0, 0, 0.0));
        let now = by_user.get(user).copied().unwrap_or((0, 0, 0, 0.0));
        ensure!(
            (now.0.saturating_sub(was.0), now.1.saturating_sub(was.1)) == (requests, images),
            "the usage store counts {} requests and {} images more for {user}, seeded {requests} and {images}",
            now.0.saturating_sub(was.0),
            now.1.saturating_sub(was.1)
        );
    }

    ctx.client.refresh().await?;
    ctx.wait_css("table#by-user").await?;
    let mut wrong = compare("per user", &table(ctx, "by-user").await?, &by_user);
    wrong.extend(compare(
        "per model",
        &table(ctx, "by-model").await?,
        &by_model,
    ));
    ensure!(
        wrong.is_empty(),
        "the dashboard differs from the usage store:\n  {}",
        wrong.join("\n  ")
    );
    Ok(())
}
