//! What a person does in the UI, written against the page contract (docs/ui-testing.md): the
//! element ids and classes below are that contract, not guesses about one implementation.

use std::error::Error;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use artgen_tests::TestApp;
use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use serde_json::{json, Value};

use crate::drivers::Engine;

/// A scenario's result: `Err` carries what a person would have seen go wrong.
pub(crate) type Outcome = Result<(), Box<dyn Error + Send + Sync>>;

/// The longest wait for one thing on a page (an element, a navigation, an image).
const WAIT: Duration = Duration::from_secs(20);

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+).into());
        }
    };
}

/// One engine's browser session against one running app.
pub(crate) struct Ctx {
    /// The engine under test.
    pub engine: Engine,
    /// The WebDriver session.
    pub client: Client,
    /// The app (mock provider) it talks to.
    pub app: TestApp,
    /// Where screenshots go for review.
    pub shots: PathBuf,
}

/// Every scenario by name, in the order they run.
pub(crate) const ALL: &[&str] = &[
    "root_without_a_session_redirects_to_sign_in",
    "sign_in_rejects_a_wrong_key_and_accepts_a_right_one",
    "a_prompt_becomes_a_downloadable_shareable_image",
    "a_screenshot_after_generating_is_not_blank",
    "tab_from_the_prompt_reaches_generate",
    "sign_out_ends_the_session",
];

/// Runs the scenario called `name`, from a browser with no session.
pub(crate) async fn run(ctx: &Ctx, name: &str) -> Outcome {
    reset(ctx).await?;
    match name {
        "root_without_a_session_redirects_to_sign_in" => root_redirects(ctx).await,
        "sign_in_rejects_a_wrong_key_and_accepts_a_right_one" => sign_in_form(ctx).await,
        "a_prompt_becomes_a_downloadable_shareable_image" => prompt_to_image(ctx).await,
        "a_screenshot_after_generating_is_not_blank" => screenshot(ctx).await,
        "tab_from_the_prompt_reaches_generate" => keyboard(ctx).await,
        "sign_out_ends_the_session" => sign_out(ctx).await,
        other => Err(format!("no scenario {other}").into()),
    }
}

impl Ctx {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.app.address)
    }

    async fn path(&self) -> Result<String, fantoccini::error::CmdError> {
        Ok(self.client.current_url().await?.path().to_owned())
    }

    /// Waits until the page's path is `want`.
    async fn wait_path(&self, want: &str) -> Outcome {
        let deadline = Instant::now() + WAIT;
        loop {
            let path = self.path().await?;
            if path == want {
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "expected to land on {want}, still on {path}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_css(&self, css: &str) -> Result<fantoccini::elements::Element, String> {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .map_err(|e| format!("`{css}` never appeared: {e}"))
    }

    /// Runs `script` until it returns something truthy, and returns that.
    async fn wait_script(
        &self,
        what: &str,
        script: &str,
    ) -> Result<Value, Box<dyn Error + Send + Sync>> {
        let deadline = Instant::now() + WAIT;
        loop {
            let value = self.client.execute(script, vec![]).await?;
            let truthy = match &value {
                Value::Null | Value::Bool(false) => false,
                Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return Ok(value);
            }
            ensure!(
                Instant::now() < deadline,
                "{what}: still {value} after {WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Signs in through the form with `key` and waits for `/`.
    async fn sign_in(&self, key: &str) -> Outcome {
        self.client.goto(&self.url("/sign-in")).await?;
        let input = self.wait_css("form#sign-in input#api-key").await?;
        input.clear().await?;
        input.send_keys(key).await?;
        self.wait_css("button#sign-in-submit")
            .await?
            .click()
            .await?;
        self.wait_path("/").await
    }

    /// Fills the prompt form, asks for one image and waits for it to head the gallery.
    /// Returns the pixels asked for.
    async fn generate(&self, prompt: &str) -> Result<(u32, u32), Box<dyn Error + Send + Sync>> {
        self.wait_css("form#generate").await?;
        for control in [
            "textarea#prompt",
            "select#model",
            "select#size",
            "select#quality",
            "input#n",
            "button#generate-submit",
        ] {
            self.client
                .find(Locator::Css(&format!("form#generate {control}")))
                .await
                .map_err(|e| format!("form#generate has no `{control}`: {e}"))?;
        }
        let size = pick_size(self).await?;
        let n = self.client.find(Locator::Css("input#n")).await?;
        n.clear().await?;
        n.send_keys("1").await?;
        let text = self.client.find(Locator::Css("textarea#prompt")).await?;
        text.clear().await?;
        text.send_keys(prompt).await?;
        self.client
            .find(Locator::Css("button#generate-submit"))
            .await?
            .click()
            .await?;
        let check = format!(
            "const f = document.querySelector('#gallery figure.image');\
             const i = f && f.querySelector('img');\
             return !!i && i.getAttribute('alt') === {};",
            json!(prompt)
        );
        self.wait_script("the newest gallery image's alt is the prompt", &check)
            .await?;
        let shown = self
            .client
            .execute(
                "const i = document.querySelector('#gallery figure.image img');\
                 return [Number(i.getAttribute('width')) || 0, Number(i.getAttribute('height')) || 0];",
                vec![],
            )
            .await?;
        let shown: (u32, u32) = serde_json::from_value(shown)?;
        Ok(size.expect(shown)?)
    }

    /// The browser's cookies for the app, as a `Cookie` header.
    async fn cookie_header(&self) -> Result<String, fantoccini::error::CmdError> {
        Ok(self
            .client
            .get_all_cookies()
            .await?
            .iter()
            .map(|c| format!("{}={}", c.name(), c.value()))
            .collect::<Vec<_>>()
            .join("; "))
    }
}

/// The size the test asked for in `select#size`.
#[derive(Debug, Clone)]
enum Asked {
    /// An option that names its pixels (`data-size`, or a value that reads `WxH`).
    Exact(u32, u32),
    /// An option that names a shape (`square`, `portrait`, `landscape`): the model picks the
    /// pixels, the gallery shows them, and the shape must hold.
    Shape(String),
}

impl Asked {
    /// The pixels to expect, given those the gallery's `img` reports (`width` and `height`).
    fn expect(&self, shown: (u32, u32)) -> Result<(u32, u32), String> {
        let (w, h) = shown;
        match self {
            Self::Exact(aw, ah) => Ok((*aw, *ah)),
            Self::Shape(shape) => {
                let holds = match shape.as_str() {
                    "landscape" => w > h,
                    "portrait" => h > w,
                    "square" => w == h,
                    _ => w > 0 && h > 0,
                };
                if holds {
                    Ok((w, h))
                } else {
                    Err(format!("asked for {shape}, the gallery shows {w}x{h}"))
                }
            }
        }
    }
}

/// Chooses a size in `select#size`, preferring one that is not square so a swapped width and
/// height shows. Opens the `<details>` it sits in first, as a person would.
async fn pick_size(ctx: &Ctx) -> Result<Asked, Box<dyn Error + Send + Sync>> {
    let closed = ctx
        .client
        .execute(
            "const d = document.querySelector('select#size').closest('details');\
             return !!d && !d.open;",
            vec![],
        )
        .await?;
    if closed == json!(true) {
        ctx.client
            .find(Locator::Css("details:has(select#size) > summary"))
            .await?
            .click()
            .await?;
    }
    let options = ctx
        .client
        .execute(
            "return Array.from(document.querySelectorAll('select#size option'))\
               .filter(o => !o.disabled)\
               .map(o => [o.value, o.dataset.size || o.value]);",
            vec![],
        )
        .await?;
    let options: Vec<(String, String)> = serde_json::from_value(options)?;
    let sized: Vec<(&str, (u32, u32))> = options
        .iter()
        .filter_map(|(value, size)| Some((value.as_str(), parse_size(size)?)))
        .collect();
    let shaped = ["landscape", "portrait", "square"]
        .into_iter()
        .find(|shape| options.iter().any(|(value, _)| value == shape));
    let (value, asked) = match (
        sized.iter().find(|(_, (w, h))| w != h).or(sized.first()),
        shaped,
    ) {
        (Some(&(value, (w, h))), _) => (value.to_owned(), Asked::Exact(w, h)),
        (None, Some(shape)) => (shape.to_owned(), Asked::Shape(shape.to_owned())),
        (None, None) => {
            return Err(format!(
                "select#size has no enabled option that names a size (WxH) or a shape: {options:?}"
            )
            .into())
        }
    };
    ctx.client
        .find(Locator::Css("select#size"))
        .await?
        .select_by_value(&value)
        .await?;
    Ok(asked)
}

fn parse_size(text: &str) -> Option<(u32, u32)> {
    let (w, h) = text.split_once('x')?;
    Some((w.trim().parse().ok()?, h.trim().parse().ok()?))
}

/// Starts from no session: any page of the app, then no cookies.
async fn reset(ctx: &Ctx) -> Outcome {
    ctx.client.goto(&ctx.url("/sign-in")).await?;
    ctx.client.delete_all_cookies().await?;
    Ok(())
}

async fn root_redirects(ctx: &Ctx) -> Outcome {
    ctx.client.goto(&ctx.url("/")).await?;
    ctx.wait_path("/sign-in").await?;
    // And the answer itself is a redirect, not a page that moves on by script.
    let answer = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?
        .get(ctx.url("/"))
        .send()
        .await?;
    ensure!(
        answer.status().is_redirection(),
        "GET / without a session answered {}, not a redirect",
        answer.status()
    );
    let location = answer
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    ensure!(
        location.ends_with("/sign-in") || location.contains("/sign-in?"),
        "GET / redirects to {location:?}, not /sign-in"
    );
    Ok(())
}

async fn sign_in_form(ctx: &Ctx) -> Outcome {
    ctx.client.goto(&ctx.url("/sign-in")).await?;
    let input = ctx.wait_css("form#sign-in input#api-key").await?;
    ensure!(
        input.attr("name").await?.as_deref() == Some("api_key"),
        "input#api-key is not named api_key"
    );
    ensure!(
        input.attr("type").await?.as_deref() == Some("password"),
        "input#api-key is not a password field"
    );
    ctx.wait_css("form#sign-in button#sign-in-submit").await?;

    input
        .send_keys("ag-test-this-key-does-not-exist-0000")
        .await?;
    ctx.client
        .find(Locator::Css("button#sign-in-submit"))
        .await?
        .click()
        .await?;
    let error = ctx.wait_css("#error").await?;
    ensure!(
        error.attr("role").await?.as_deref() == Some("alert"),
        "#error has no role=alert, so screen readers do not announce it"
    );
    ensure!(
        !error.text().await?.trim().is_empty(),
        "#error is shown but says nothing"
    );
    let path = ctx.path().await?;
    ensure!(
        path == "/sign-in",
        "a wrong key left the sign-in page for {path}"
    );

    ctx.sign_in(&ctx.app.user_key).await?;
    // The key itself is never kept in the browser: not in a cookie, not in web storage.
    let cookies = ctx.cookie_header().await?;
    ensure!(
        !cookies.contains(&ctx.app.user_key),
        "a cookie holds the API key"
    );
    let storage = ctx
        .client
        .execute(
            "return JSON.stringify(localStorage) + JSON.stringify(sessionStorage);",
            vec![],
        )
        .await?;
    ensure!(
        !storage.to_string().contains(&ctx.app.user_key),
        "web storage holds the API key"
    );
    Ok(())
}

async fn prompt_to_image(ctx: &Ctx) -> Outcome {
    ctx.sign_in(&ctx.app.user_key).await?;
    let prompt = format!("a lighthouse at dusk, drawn for {}", ctx.engine.name());
    let (width, height) = ctx.generate(&prompt).await?;

    let natural = ctx
        .wait_script(
            "the gallery image loads",
            "const i = document.querySelector('#gallery figure.image img');\
             return i && i.complete ? i.naturalWidth : 0;",
        )
        .await?;
    ensure!(
        natural.as_u64() == Some(u64::from(width)),
        "the gallery image is {natural} pixels wide, asked for {width}"
    );

    let page = ctx.client.current_url().await?;
    let figure = ctx.wait_css("#gallery figure.image").await?;
    let download = figure
        .find(Locator::Css("a.download"))
        .await
        .map_err(|e| format!("the image has no a.download: {e}"))?
        .attr("href")
        .await?
        .ok_or("a.download has no href")?;
    let download = page.join(&download)?;
    let answer = ctx
        .app
        .client
        .get(download.as_str())
        .header("cookie", ctx.cookie_header().await?)
        .send()
        .await?;
    ensure!(
        answer.status().is_success(),
        "Download answered {}",
        answer.status()
    );
    let bytes = answer.bytes().await?;
    ensure!(
        image::guess_format(&bytes).ok() == Some(image::ImageFormat::Png),
        "Download is not a PNG"
    );
    let png = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)?;
    ensure!(
        (png.width(), png.height()) == (width, height),
        "Download is {}x{}, asked for {width}x{height}",
        png.width(),
        png.height()
    );

    let copy = figure
        .find(Locator::Css("a.copy-url"))
        .await
        .map_err(|e| format!("the image has no a.copy-url: {e}"))?;
    let link = match copy.attr("data-url").await? {
        Some(url) => url,
        None => copy
            .attr("href")
            .await?
            .ok_or("a.copy-url has no data-url")?,
    };
    let link = page.join(&link)?;
    // The recipient has no session: a fresh client, no cookies.
    let shared = reqwest::get(link.as_str()).await?;
    ensure!(
        shared.status().is_success(),
        "the copied link answered {} without a session",
        shared.status()
    );
    let shared = image::load_from_memory(&shared.bytes().await?)?;
    ensure!(
        (shared.width(), shared.height()) == (width, height),
        "the copied link's image is {}x{}, asked for {width}x{height}",
        shared.width(),
        shared.height()
    );
    Ok(())
}

async fn screenshot(ctx: &Ctx) -> Outcome {
    ctx.sign_in(&ctx.app.user_key).await?;
    ctx.generate(&format!("a quiet harbour, for {}", ctx.engine.name()))
        .await?;
    ctx.wait_script(
        "the gallery image loads",
        "const i = document.querySelector('#gallery figure.image img');\
         return i && i.complete ? i.naturalWidth : 0;",
    )
    .await?;
    // Decoded and painted: every image's decode() settled, then two frames.
    ctx.client
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             Promise.all(Array.from(document.images).map(i => i.decode().catch(() => null)))\
               .then(() => requestAnimationFrame(() => requestAnimationFrame(() => done(true))));",
            vec![],
        )
        .await?;
    // Where the newest image sits, in screenshot pixels.
    let rect = ctx
        .client
        .execute(
            "const r = document.querySelector('#gallery figure.image img').getBoundingClientRect();\
             const k = window.devicePixelRatio || 1;\
             return [r.left * k, r.top * k, r.width * k, r.height * k].map(Math.round);",
            vec![],
        )
        .await?;
    let rect: (u32, u32, u32, u32) = serde_json::from_value(rect)?;
    let shot = ctx.client.screenshot().await?;
    std::fs::create_dir_all(&ctx.shots)?;
    let file = ctx.shots.join(format!("{}-home.png", ctx.engine.name()));
    std::fs::write(&file, &shot)?;
    ensure!(
        image::guess_format(&shot).ok() == Some(image::ImageFormat::Png),
        "the screenshot is not a PNG"
    );
    let picture = image::load_from_memory_with_format(&shot, image::ImageFormat::Png)?.to_rgba8();
    ensure!(
        varied(&picture, (0, 0, picture.width(), picture.height())),
        "the screenshot ({}x{}, {}) is one colour",
        picture.width(),
        picture.height(),
        file.display()
    );
    ensure!(
        varied(&picture, rect),
        "the screenshot ({}) shows the page but the newest image's box {rect:?} is one colour",
        file.display()
    );
    Ok(())
}

/// Whether the pixels inside `(left, top, width, height)` are not all the same.
fn varied(picture: &image::RgbaImage, (left, top, width, height): (u32, u32, u32, u32)) -> bool {
    let right = left.saturating_add(width).min(picture.width());
    let bottom = top.saturating_add(height).min(picture.height());
    let mut pixels = (top..bottom).flat_map(|y| (left..right).map(move |x| (x, y)));
    let Some((x, y)) = pixels.next() else {
        return false;
    };
    let first = *picture.get_pixel(x, y);
    pixels.any(|(x, y)| *picture.get_pixel(x, y) != first)
}

async fn keyboard(ctx: &Ctx) -> Outcome {
    ctx.sign_in(&ctx.app.user_key).await?;
    let prompt = ctx.wait_css("textarea#prompt").await?;
    ctx.client
        .execute("document.querySelector('textarea#prompt').focus();", vec![])
        .await?;
    let active = "const a = document.activeElement; return a ? (a.id || a.tagName) : '';";
    let start = ctx.client.execute(active, vec![]).await?;
    ensure!(
        start == json!("prompt"),
        "focus starts on {start}, not the prompt"
    );
    let mut visited = vec![start.to_string()];
    let tab = Key::Tab.to_string();
    let mut target = prompt;
    for _ in 0..20 {
        target.send_keys(&tab).await?;
        let now = ctx.client.execute(active, vec![]).await?;
        visited.push(now.to_string());
        if now == json!("generate-submit") {
            return Ok(());
        }
        target = ctx.client.active_element().await?;
    }
    Err(format!(
        "Tab from the prompt never reached #generate-submit: {}",
        visited.join(" → ")
    )
    .into())
}

async fn sign_out(ctx: &Ctx) -> Outcome {
    ctx.sign_in(&ctx.app.user_key).await?;
    ctx.wait_css("form#sign-out button#sign-out-submit")
        .await?
        .click()
        .await?;
    ctx.wait_path("/sign-in").await?;
    ctx.client.goto(&ctx.url("/")).await?;
    ctx.wait_path("/sign-in").await
}
