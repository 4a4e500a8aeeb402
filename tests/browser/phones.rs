//! Phone-sized viewports: each page fits the width of a phone (no sideways scrolling), and a
//! screenshot of each page at phone and desktop size is written for review.

use serde_json::Value;

use crate::drivers::WINDOW;
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

/// Sizes the window so the page's viewport is `width`×`height`: WebDriver sizes the outer
/// window, so the difference a first try leaves (toolbars, borders) is added back once.
/// Returns the viewport reached; an engine whose windows cannot be that small stops at its
/// minimum.
async fn set_viewport(ctx: &Ctx, width: u32, height: u32) -> Fallible<(i64, i64)> {
    ctx.client.set_window_size(width, height).await?;
    let (w, h) = inner(ctx).await?;
    let (want_w, want_h) = (i64::from(width), i64::from(height));
    if (w, h) != (want_w, want_h) {
        let outer = |want: i64, got: i64| u32::try_from((2 * want - got).max(1)).unwrap_or(1);
        ctx.client
            .set_window_size(outer(want_w, w), outer(want_h, h))
            .await?;
    }
    inner(ctx).await
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
