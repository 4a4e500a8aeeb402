//! Phone-sized viewports: each page fits the width of a phone (no sideways scrolling), and a
//! screenshot of each page at phone and desktop size is written for review.

use serde_json::{json, Value};

use crate::drivers::{Engine, WINDOW};
use crate::scenarios::{reset, varied, Ctx, Fallible, Outcome};

/// A viewport the pages are checked at: its name in screenshot files (`None`: checked, no
/// screenshot), width and height in CSS pixels.
struct Viewport {
    shot: Option<&'static str>,
    width: u32,
    height: u32,
}

const VIEWPORTS: [Viewport; 3] = [
    Viewport {
        shot: Some("desktop"),
        width: WINDOW.0,
        height: WINDOW.1,
    },
    // An iPhone 12 to 15 (390×844) and a small Android phone (360×740).
    Viewport {
        shot: Some("phone"),
        width: 390,
        height: 844,
    },
    Viewport {
        shot: None,
        width: 360,
        height: 740,
    },
];

/// The page's viewport now, in CSS pixels (`innerWidth`, `innerHeight`).
async fn inner(ctx: &Ctx) -> Fallible<(i64, i64)> {
    let size = ctx
        .client
        .execute("return [window.innerWidth, window.innerHeight];", vec![])
        .await?;
    Ok(serde_json::from_value(size)?)
}

/// Sizes the window so the page's viewport is `width`×`height` CSS pixels: WebDriver sizes
/// the outer window, so the difference a first try leaves (toolbars, borders) is added back
/// once. Firefox, whose window is never narrower than 500 px, is then zoomed in (as a phone's
/// pixel ratio does) until its viewport is that narrow. Returns the viewport reached; WebKit
/// stops at its narrowest window.
async fn set_viewport(ctx: &Ctx, width: u32, height: u32) -> Fallible<(i64, i64)> {
    if ctx.engine == Engine::Firefox {
        firefox_zoom(ctx, 1.0).await?;
    }
    ctx.client.set_window_size(width, height).await?;
    let (w, h) = inner(ctx).await?;
    let (want_w, want_h) = (i64::from(width), i64::from(height));
    // What the window adds around the page, in pixels.
    let (extra_w, extra_h) = (i64::from(width) - w, i64::from(height) - h);
    let outer = |inside: i64, extra: i64| u32::try_from((inside + extra).max(1)).unwrap_or(1);
    if (w, h) != (want_w, want_h) {
        ctx.client
            .set_window_size(outer(want_w, extra_w), outer(want_h, extra_h))
            .await?;
    }
    let (w, h) = inner(ctx).await?;
    if ctx.engine != Engine::Firefox || w <= want_w {
        return Ok((w, h));
    }
    // The narrowest window is `w` wide; Gecko draws 60/n device pixels per CSS pixel for a
    // whole n, so pick the zoom 60/n whose window, width × 60/n, is whole and wide enough.
    let Some(n) = (1..=60_u32)
        .rev()
        .find(|n| (width * 60).is_multiple_of(*n) && i64::from(width * 60 / n) >= w)
    else {
        return Ok((w, h));
    };
    let zoom = 60.0 / f64::from(n);
    firefox_zoom(ctx, zoom).await?;
    #[expect(
        clippy::cast_possible_truncation,
        reason = "window sizes in pixels, rounded"
    )]
    let device = |css: i64| (css as f64 * zoom).round() as i64;
    let (device_w, device_h) = (device(want_w), device(want_h));
    // Once at that size, then corrected by what the window adds around the page.
    ctx.client
        .set_window_size(outer(device_w, 0), outer(device_h, 0))
        .await?;
    let (w, h) = inner(ctx).await?;
    ctx.client
        .set_window_size(
            outer(device_w, device_w - device(w)),
            outer(device_h, device_h - device(h)),
        )
        .await?;
    inner(ctx).await
}

/// Sets Firefox's page zoom (1.0: none) from its chrome context, through geckodriver's
/// `moz/context` command, then goes back to the page's context.
async fn firefox_zoom(ctx: &Ctx, zoom: f64) -> Outcome {
    let session = ctx
        .client
        .session_id()
        .await?
        .ok_or("the Firefox session has no id")?;
    let http = reqwest::Client::new();
    let context = |which: &'static str| {
        http.post(format!("{}/session/{session}/moz/context", ctx.driver))
            .json(&json!({ "context": which }))
            .send()
    };
    let chrome = context("chrome").await?;
    ensure!(
        chrome.status().is_success(),
        "geckodriver refused the chrome context: {}",
        chrome.text().await.unwrap_or_default()
    );
    let zoomed = ctx
        .client
        .execute(
            "const b = Services.wm.getMostRecentWindow('navigator:browser').gBrowser.selectedBrowser;\
             b.fullZoom = arguments[0];\
             return b.fullZoom;",
            vec![json!(zoom)],
        )
        .await;
    let back = context("content").await?;
    ensure!(
        back.status().is_success(),
        "geckodriver did not go back to the page's context: {}",
        back.text().await.unwrap_or_default()
    );
    zoomed?;
    Ok(())
}

/// Says which elements stick out to the right when the page scrolls sideways.
async fn overflow(ctx: &Ctx) -> Fallible<Option<String>> {
    let found = ctx
        .client
        .execute(
            "const w = window.innerWidth, sw = document.documentElement.scrollWidth;\
             if (sw <= w) return null;\
             const name = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')\
                 + (typeof e.className === 'string' && e.className ? '.' + e.className.trim().split(/\\s+/).join('.') : '');\
             const wide = Array.from(document.querySelectorAll('body *'))\
                 .filter(e => e.getBoundingClientRect().right > w + 0.5)\
                 .slice(0, 8)\
                 .map(e => name(e) + ' (right edge ' + Math.round(e.getBoundingClientRect().right) + ')');\
             return 'the page is ' + sw + ' px wide in a ' + w + ' px viewport; sticking out: ' + wide.join(', ');",
            vec![],
        )
        .await?;
    Ok(match found {
        Value::String(why) => Some(why),
        _ => None,
    })
}

/// Checks the page shown at every viewport, writing `<engine>-<page>-<phone|desktop>.png`.
async fn check_page(ctx: &Ctx, page: &str, problems: &mut Vec<String>) -> Outcome {
    let engine = ctx.engine.name();
    for viewport in &VIEWPORTS {
        let (w, h) = set_viewport(ctx, viewport.width, viewport.height).await?;
        let size = format!("{}×{}", viewport.width, viewport.height);
        if w != i64::from(viewport.width) {
            eprintln!("{engine}: asked for a {size} viewport, got {w}×{h}; checked at {w}");
        }
        ensure!(
            (w - i64::from(viewport.width)).abs() <= 2 || ctx.engine == Engine::WebKit,
            "{engine}: asked for a {size} viewport, got {w}×{h}"
        );
        ctx.painted().await?;
        if let Some(why) = overflow(ctx).await? {
            problems.push(format!("{page} at {size}: {why}"));
        }
        let Some(shot) = viewport.shot else { continue };
        let png = ctx.client.screenshot().await?;
        std::fs::create_dir_all(&ctx.shots)?;
        let file = ctx.shots.join(format!("{engine}-{page}-{shot}.png"));
        std::fs::write(&file, &png)?;
        ensure!(
            image::guess_format(&png).ok() == Some(image::ImageFormat::Png),
            "the {page} screenshot at {size} is not a PNG"
        );
        let picture =
            image::load_from_memory_with_format(&png, image::ImageFormat::Png)?.to_rgba8();
        ensure!(
            varied(&picture, (0, 0, picture.width(), picture.height())),
            "the {page} screenshot at {size} ({}) is one colour",
            file.display()
        );
    }
    Ok(())
}

async fn every_page(ctx: &Ctx, problems: &mut Vec<String>) -> Outcome {
    reset(ctx).await?;
    ctx.client.goto(&ctx.url("/sign-in")).await?;
    ctx.wait_css("form#sign-in").await?;
    check_page(ctx, "sign-in", problems).await?;

    ctx.sign_in(&ctx.app.user_key).await?;
    ctx.gallery_has_content().await?;
    ctx.open_advanced().await?;
    check_page(ctx, "home", problems).await?;

    ctx.signed_in_as(&ctx.app.admin_key).await?;
    ctx.client.goto(&ctx.url("/ui/admin")).await?;
    ctx.wait_css("table#by-user").await?;
    check_page(ctx, "admin", problems).await
}

/// `/sign-in`, `/` (gallery with images, advanced options open) and `/ui/admin` at desktop
/// size, 390×844 and 360×740: `document.documentElement.scrollWidth <= innerWidth` at each.
pub(crate) async fn no_sideways_scroll(ctx: &Ctx) -> Outcome {
    let mut problems = Vec::new();
    let checked = every_page(ctx, &mut problems).await;
    // The next scenarios expect the desktop window whatever happened here.
    if ctx.engine == Engine::Firefox {
        firefox_zoom(ctx, 1.0).await?;
    }
    let restored = ctx.client.set_window_size(WINDOW.0, WINDOW.1).await;
    checked?;
    restored?;
    ensure!(
        problems.is_empty(),
        "pages scroll sideways:\n  {}",
        problems.join("\n  ")
    );
    Ok(())
}
