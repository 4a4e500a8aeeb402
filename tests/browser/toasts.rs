//! The refusals a person meets, as the page announces them: a moderation block, the per-user
//! rate limit and the monthly budget. The wording belongs to the UI and may change; the tests
//! look for the facts in it (the reason, a number of seconds, the limit in dollars, a date).

use artgen_core::testing::MockStep;
use serde_json::{json, Value};

use crate::scenarios::{Ctx, Fallible, Outcome};

/// The reason the mock upstream gives for its block.
const MODERATION_REASON: &str = "Your request was rejected by the safety system: it depicts a \
    real person in a violent scene";

/// Creates `user` through the admin API with `limits` (the body of
/// `PUT /admin/users/{user}/limits`) and returns a new key of theirs.
pub(crate) async fn user_with_limits(ctx: &Ctx, user: &str, limits: Value) -> Fallible<String> {
    let app = &ctx.app;
    let admin = Some(app.admin_key.as_str());
    let created = app
        .post_raw("/admin/users", admin, json!({ "user": user }).to_string())
        .await;
    ensure!(
        created.status().is_success(),
        "creating user {user} answered {}: {}",
        created.status(),
        created.text().await.unwrap_or_default()
    );
    let set = app
        .client
        .put(format!("{}/admin/users/{user}/limits", app.address))
        .bearer_auth(&app.admin_key)
        .json(&limits)
        .send()
        .await?;
    ensure!(
        set.status().is_success(),
        "setting {user}'s limits answered {}: {}",
        set.status(),
        set.text().await.unwrap_or_default()
    );
    let key = app
        .post_raw("/admin/keys", admin, json!({ "user": user }).to_string())
        .await;
    ensure!(
        key.status().is_success(),
        "a key for {user} answered {}",
        key.status()
    );
    let key: Value = key.json().await?;
    key["key"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("the new key's answer has no key: {key}").into())
}

/// Types `prompt` and clicks Generate with the form's defaults, then waits for the page's
/// announcement of a refusal: an element with `role="alert"` (or inside an `aria-live`
/// region) that says something. Returns its text and the links in it.
async fn refused(ctx: &Ctx, prompt: &str) -> Fallible<(String, Vec<(String, String)>)> {
    let text = ctx.wait_css("form#generate textarea#prompt").await?;
    text.clear().await?;
    text.send_keys(prompt).await?;
    // Marks this document, so a live region's busy message ("Generating…") on it is not
    // taken for the answer; an alert counts wherever it appears (the page's script may show
    // the refusal without loading a new page).
    ctx.client
        .execute("window.artgenAsked = true;", vec![])
        .await?;
    ctx.click_css("form#generate button#generate-submit")
        .await?;
    let found = ctx
        .wait_script(
            "an alert announces the refusal",
            "const said = e => e.textContent.trim().length > 0 && e.getClientRects().length > 0\
                 && !e.closest('[hidden]');\
             const alert = Array.from(document.querySelectorAll('[role=alert]')).find(said);\
             const live = alert || (window.artgenAsked ? null :\
               Array.from(document.querySelectorAll('[aria-live]'))\
                 .filter(e => e.id !== 'prompt-count' && e.id !== 'estimate')\
                 .filter(e => e.getAttribute('aria-live') !== 'off')\
                 .find(said));\
             if (!live) return null;\
             return {text: live.textContent.replace(/\\s+/g, ' ').trim(),\
                     role: live.getAttribute('role') || 'aria-live=' + live.getAttribute('aria-live'),\
                     links: Array.from(live.querySelectorAll('a[href]')).map(a => [a.href, a.textContent.trim()])};",
        )
        .await?;
    let said = found["text"].as_str().unwrap_or_default().to_owned();
    let links = found["links"]
        .as_array()
        .map(|links| {
            links
                .iter()
                .map(|l| {
                    let part = |i: usize| l[i].as_str().unwrap_or_default().to_owned();
                    (part(0), part(1))
                })
                .collect()
        })
        .unwrap_or_default();
    Ok((said, links))
}

/// What the prompt box holds now.
async fn prompt_kept(ctx: &Ctx, prompt: &str) -> Outcome {
    let kept = ctx
        .client
        .execute(
            "const t = document.querySelector('textarea#prompt'); return t ? t.value : null;",
            vec![],
        )
        .await?;
    ensure!(
        kept.as_str() == Some(prompt),
        "after the refusal the prompt box holds {kept}, not the prompt written"
    );
    Ok(())
}

/// The upstream blocks the prompt: the page says why in an alert, links the usage policy and
/// keeps the prompt for revising.
pub(crate) async fn moderation(ctx: &Ctx) -> Outcome {
    let mock = ctx
        .app
        .mock
        .as_ref()
        .ok_or("the browser tests' app runs without the mock provider")?;
    ctx.sign_in(&ctx.app.user_key).await?;
    let calls = mock.calls();
    mock.push(MockStep::moderation(MODERATION_REASON));
    let prompt = format!("a scene the policy forbids, for {}", ctx.engine.name());
    let (said, links) = refused(ctx, &prompt).await?;
    ensure!(
        mock.calls() > calls,
        "the request never reached the upstream, so its block was not what the page showed: {said}"
    );
    let reason = "depicts a real person in a violent scene";
    ensure!(
        said.to_lowercase().contains(reason),
        "the alert does not give the upstream's reason ({reason:?}): {said:?}"
    );
    ensure!(
        links.iter().any(|(href, text)| {
            href.contains("polic") || text.to_lowercase().contains("polic")
        }),
        "the alert links no usage policy: {said:?}, links {links:?}"
    );
    prompt_kept(ctx, &prompt).await
}

/// A user allowed one request a minute, who just made it, tries again: the alert says in how
/// many seconds.
pub(crate) async fn rate_limit(ctx: &Ctx) -> Outcome {
    let user = "rina-once-a-minute";
    let key = user_with_limits(
        ctx,
        user,
        json!({ "rate_limit_per_minute": 1, "rate_limit_burst": 1 }),
    )
    .await?;
    // The minute's one request, made elsewhere (the API, the smallest image).
    let first = ctx
        .app
        .generate(
            Some(&key),
            &json!({ "model": "dall-e-2", "prompt": "a dot", "size": "256x256" }),
        )
        .await;
    ensure!(
        first.status().is_success(),
        "the minute's first request answered {}",
        first.status()
    );
    ctx.signed_in_as(&key).await?;
    let prompt = format!(
        "a second request within the minute, for {}",
        ctx.engine.name()
    );
    let (said, _) = refused(ctx, &prompt).await?;
    let seconds = seconds_in(&said);
    ensure!(
        seconds.iter().any(|s| (1..=60).contains(s)),
        "the alert does not say in how many seconds (1 to 60) to try again: {said:?}"
    );
    prompt_kept(ctx, &prompt).await
}

/// A user with a budget of a tenth of a cent asks for an image that costs more: the alert
/// names the limit in dollars and the date it resets.
pub(crate) async fn budget(ctx: &Ctx) -> Outcome {
    let user = "bea-tenth-of-a-cent";
    let limit = 0.001;
    let key = user_with_limits(ctx, user, json!({ "budget_usd_per_month": limit })).await?;
    ctx.signed_in_as(&key).await?;
    let prompt = format!("more than the budget allows, for {}", ctx.engine.name());
    let (said, _) = refused(ctx, &prompt).await?;
    let amounts = dollars_in(&said);
    ensure!(
        amounts.iter().any(|a| (a - limit).abs() < 1e-9),
        "the alert does not name the ${limit} limit (amounts found: {amounts:?}): {said:?}"
    );
    let today = artgen_core::domain::Date::from_unix_secs(i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs(),
    )?)
    .to_string();
    let dates = dates_in(&said);
    ensure!(
        dates.iter().any(|d| d.as_str() > today.as_str()),
        "the alert names no reset date after today ({today}; dates found: {dates:?}): {said:?}"
    );
    prompt_kept(ctx, &prompt).await
}

/// The whole numbers in `text` followed by a unit of seconds (`12 s`, `12s`, `12 seconds`).
fn seconds_in(text: &str) -> Vec<u64> {
    let mut found = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit()
            || (i > 0 && (bytes[i - 1].is_ascii_digit() || bytes[i - 1] == b'.'))
        {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let rest = text[i..].trim_start().to_lowercase();
        let unit = rest.starts_with("second")
            || rest.starts_with("sec")
            || (rest.starts_with('s') && !rest[1..].starts_with(|c: char| c.is_alphabetic()));
        if unit {
            if let Ok(n) = text[start..i].parse() {
                found.push(n);
            }
        }
    }
    found
}

/// The dollar amounts in `text` (`$0.001`, `$ 12.50`, `US$3`).
fn dollars_in(text: &str) -> Vec<f64> {
    text.match_indices('$')
        .filter_map(|(at, _)| {
            let rest = text[at + 1..].trim_start();
            let end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
                .unwrap_or(rest.len());
            rest[..end]
                .trim_end_matches(['.', ','])
                .replace(',', "")
                .parse()
                .ok()
        })
        .collect()
}

/// The `YYYY-MM-DD` dates in `text` (also the day of an RFC 3339 time).
fn dates_in(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(9))
        .filter(|&i| {
            let shape = b"dddd-dd-dd";
            shape.iter().enumerate().all(|(k, s)| match s {
                b'd' => bytes[i + k].is_ascii_digit(),
                c => bytes[i + k] == *c,
            }) && (i == 0 || !bytes[i - 1].is_ascii_digit())
        })
        .map(|i| text[i..i + 10].to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_are_read_out_of_prose() {
        assert_eq!(seconds_in("limit reached (try again in 42 s)"), vec![42]);
        assert_eq!(seconds_in("retry in 7 seconds, or 3s"), vec![7, 3]);
        assert!(seconds_in("$0.5 spent, 12 images").is_empty());
        assert_eq!(
            dollars_in("budget of $0.001000: $0.0200 asked"),
            vec![0.001, 0.02]
        );
        assert_eq!(dollars_in("US$ 1,250.50."), vec![1250.5]);
        assert_eq!(
            dates_in("resets at 2027-01-01T00:00:00Z (from 2026-12-01)"),
            vec!["2027-01-01", "2026-12-01"]
        );
    }
}
