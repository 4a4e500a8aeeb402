//! Accessibility: axe-core's WCAG 2.1 A and AA rules on the sign-in, prompt and dashboard
//! pages, and the whole flow by keyboard alone with a focus that can be seen.

use std::path::PathBuf;

use fantoccini::key::Key;
use serde_json::{json, Value};

use crate::scenarios::{Ctx, Fallible, Outcome, Skipped};

/// The WCAG tags axe checks: levels A and AA of WCAG 2.0 and 2.1.
const WCAG_TAGS: [&str; 4] = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];

/// axe-core's browser bundle, installed by `npm ci --prefix tests/browser` (version pinned in
/// tests/browser/package-lock.json).
fn axe_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser/node_modules/axe-core/axe.min.js")
}

/// axe-core's source, or why the check cannot run: a skip outside CI, a failure in it.
pub(crate) fn axe_source() -> Fallible<String> {
    let file = axe_file();
    match std::fs::read_to_string(&file) {
        Ok(source) => Ok(source),
        Err(e) if crate::required() => Err(format!(
            "ARTGEN_TEST_BROWSERS=1 but axe-core cannot be read at {} ({e}); run \
             `npm ci --prefix tests/browser`",
            file.display()
        )
        .into()),
        Err(_) => Err(Box::new(Skipped(format!(
            "axe-core is not installed at {} (run `npm ci --prefix tests/browser`; set \
             ARTGEN_TEST_BROWSERS=1 to require it)",
            file.display()
        )))),
    }
}

/// Injects axe into the page shown (through WebDriver: the page's CSP allows no inline
/// script, and a test must not weaken it) and runs the WCAG 2.1 AA rules on the document.
pub(crate) async fn violations(ctx: &Ctx, source: &str, page: &str) -> Fallible<Vec<String>> {
    let loaded = ctx
        .client
        .execute(
            &format!("{source}\n;return typeof window.axe === 'object' && typeof window.axe.run === 'function';"),
            vec![],
        )
        .await?;
    ensure!(
        loaded == json!(true),
        "{page}: axe-core did not load into the page ({loaded})"
    );
    let found = ctx
        .client
        .execute_async(
            "const [tags, done] = arguments;\
             window.axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})\
               .then(r => done({passes: r.passes.length, violations: r.violations.map(v => ({\
                   id: v.id, impact: v.impact, help: v.help,\
                   targets: v.nodes.map(n => n.target.join(' '))}))}))\
               .catch(e => done({error: String(e)}));",
            vec![json!(WCAG_TAGS)],
        )
        .await?;
    if let Some(error) = found.get("error") {
        return Err(format!("{page}: axe failed to run: {error}").into());
    }
    // A run that checked nothing would find nothing: the pages have labels, contrast and
    // landmarks to pass, so a real run passes dozens of rules.
    let passes = found["passes"].as_u64().unwrap_or(0);
    ensure!(
        passes >= 10,
        "{page}: axe passed only {passes} rules, so it did not really check the page"
    );
    let Some(found) = found.get("violations").and_then(Value::as_array) else {
        return Err(format!("{page}: axe answered without a list of violations: {found}").into());
    };
    let text = |v: &Value, key: &str| v[key].as_str().unwrap_or("(none given)").to_owned();
    Ok(found
        .iter()
        .map(|v| {
            let targets: Vec<&str> = v["targets"]
                .as_array()
                .map(|t| t.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            format!(
                "{page}: {} ({}): {} — at {}",
                text(v, "id"),
                text(v, "impact"),
                text(v, "help"),
                targets.join(", ")
            )
        })
        .collect())
}

/// axe on `/sign-in` (with the wrong-key error shown), on `/` with images in the gallery and
/// the advanced options open, and on `/ui/admin` signed in as an admin with usage recorded.
pub(crate) async fn axe(ctx: &Ctx) -> Outcome {
    let source = axe_source()?;
    let mut found = Vec::new();

    ctx.client.goto(&ctx.url("/sign-in")).await?;
    ctx.wait_css("form#sign-in").await?;
    found.extend(violations(ctx, &source, "/sign-in").await?);
    let input = ctx.wait_css("input#api-key").await?;
    input.send_keys("ag-test-not-a-key-0000").await?;
    ctx.click_css("button#sign-in-submit").await?;
    ctx.wait_css("#error").await?;
    found.extend(violations(ctx, &source, "/sign-in (wrong key)").await?);

    ctx.sign_in(&ctx.app.user_key).await?;
    ctx.gallery_has_content().await?;
    ctx.open_advanced().await?;
    found.extend(violations(ctx, &source, "/").await?);
    let calm = ctx
        .client
        .execute(
            "let found = 0;\
             for (const sheet of document.styleSheets) {\
               let rules = [];\
               try { rules = sheet.cssRules; } catch (e) { continue; }\
               for (const r of rules) {\
                 if (r.media && /prefers-reduced-motion:\\s*reduce/.test(r.media.mediaText)) found++;\
               }\
             }\
             return found;",
            vec![],
        )
        .await?;
    ensure!(
        calm.as_u64().is_some_and(|n| n > 0),
        "/: no stylesheet rule for `prefers-reduced-motion: reduce`, so motion cannot be turned off"
    );
    // The page with a refusal's alert (and its policy link) in it.
    if let Some(mock) = &ctx.app.mock {
        mock.push(artgen_core::testing::MockStep::moderation(
            "the safety system rejected this request",
        ));
        let prompt = ctx.wait_css("form#generate textarea#prompt").await?;
        prompt.clear().await?;
        prompt.send_keys("a prompt the upstream refuses").await?;
        ctx.click_css("form#generate button#generate-submit")
            .await?;
        ctx.wait_script(
            "the refusal's alert",
            "const e = document.querySelector('#error[role=alert]');\
             return !!e && e.textContent.includes('safety system');",
        )
        .await?;
        found.extend(violations(ctx, &source, "/ (refused)").await?);
    }

    ctx.signed_in_as(&ctx.app.admin_key).await?;
    let usage = ctx
        .app
        .get("/admin/usage?group_by=user", Some(&ctx.app.admin_key))
        .await
        .json::<Value>()
        .await?;
    ensure!(
        usage["rows"]
            .as_array()
            .is_some_and(|rows| !rows.is_empty()),
        "no usage recorded yet, so the dashboard's tables would be checked empty: {usage}"
    );
    ctx.client.goto(&ctx.url("/ui/admin")).await?;
    ctx.wait_css("table#by-user").await?;
    found.extend(violations(ctx, &source, "/ui/admin").await?);

    ensure!(
        found.is_empty(),
        "axe found {} WCAG 2.1 AA violation(s):\n  {}",
        found.len(),
        found.join("\n  ")
    );
    Ok(())
}

/// How `css` looks now where a focus ring would show: its outline and box shadow.
async fn ring(ctx: &Ctx, css: &str) -> Fallible<String> {
    let value = ctx
        .client
        .execute(
            "const e = document.querySelector(arguments[0]);\
             if (!e) return null;\
             const s = getComputedStyle(e);\
             return [s.outlineStyle, s.outlineWidth, s.outlineColor, s.boxShadow].join(' | ');",
            vec![json!(css)],
        )
        .await?;
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("`{css}` is not on the page").into())
}

/// Checks that `css`, focused by keyboard now, looks different from how it looks once focus
/// moved on (Tab), then moves focus back to it (Shift+Tab).
async fn focus_shows(ctx: &Ctx, css: &str) -> Outcome {
    let focused = ring(ctx, css).await?;
    ctx.press(Key::Tab).await?;
    let unfocused = ring(ctx, css).await?;
    ctx.shift_tab().await?;
    let back = ctx
        .client
        .execute(
            &format!(
                "return document.activeElement === document.querySelector({});",
                json!(css)
            ),
            vec![],
        )
        .await?;
    ensure!(
        back == json!(true),
        "Shift+Tab did not bring focus back to `{css}` (it is on {})",
        ctx.focused().await?
    );
    ensure!(
        focused != unfocused,
        "`{css}` looks the same focused and not ({focused}): the focus cannot be seen"
    );
    Ok(())
}

/// Sign in, write a prompt, generate, and open the new image, with WebDriver key actions
/// only: Tab, typing and Enter; no click and no element targeted.
pub(crate) async fn keyboard_alone(ctx: &Ctx) -> Outcome {
    ctx.client.goto(&ctx.url("/sign-in")).await?;
    ctx.wait_css("form#sign-in").await?;
    let before = ctx.clicks();

    ctx.tab_to("input#api-key", 5).await?;
    focus_shows(ctx, "input#api-key").await?;
    ctx.keys(&ctx.app.user_key).await?;
    ctx.press(Key::Enter).await?;
    ctx.wait_path("/").await?;
    ctx.wait_css("form#generate").await?;

    ctx.tab_to("textarea#prompt", 10).await?;
    focus_shows(ctx, "textarea#prompt").await?;
    let prompt = format!("a kite made of leaves, typed in {}", ctx.engine.name());
    ctx.keys(&prompt).await?;
    ctx.tab_to("button#generate-submit", 10).await?;
    focus_shows(ctx, "button#generate-submit").await?;
    ctx.press(Key::Enter).await?;
    ctx.newest_is(&prompt).await?;

    let first = "#gallery li:first-child figure.image a.view";
    ctx.tab_to(first, 20).await?;
    focus_shows(ctx, first).await?;
    ctx.press(Key::Enter).await?;
    let deadline = std::time::Instant::now() + crate::scenarios::WAIT;
    loop {
        let path = ctx.path().await?;
        if path.starts_with("/ui/images/") {
            break;
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "Enter on the first image's link left the page on {path}, not /ui/images/…"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let alt = ctx.wait_css("img#large").await?.attr("alt").await?;
    ensure!(
        alt.as_deref() == Some(prompt.as_str()),
        "the image page shows {alt:?}, not the image just made"
    );
    ensure!(
        ctx.clicks() == before,
        "the keyboard scenario clicked {} time(s)",
        ctx.clicks() - before
    );
    Ok(())
}
