//! What a person does in the UI, written against the page contract (docs/ui-testing.md): the
//! element ids and classes below are that contract, not guesses about one implementation.

use std::error::Error;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use artgen_tests::TestApp;
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use serde_json::{json, Value};

use crate::drivers::Engine;

/// A scenario's result: `Err` carries what a person would have seen go wrong.
pub(crate) type Outcome = Result<(), Box<dyn Error + Send + Sync>>;

/// A value a scenario step produces, or why the scenario failed.
pub(crate) type Fallible<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// The longest wait for one thing on a page (an element, a navigation, an image).
pub(crate) const WAIT: Duration = Duration::from_secs(20);

/// A scenario that cannot run here, and why (a tool that is not installed, outside CI).
#[derive(Debug)]
pub(crate) struct Skipped(pub String);

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for Skipped {}

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
    /// Every click the scenarios made, all through [`Ctx::click`].
    pub clicks: AtomicU32,
    /// The WebDriver server's address, for the few commands fantoccini has no call for.
    pub driver: String,
}

/// Every scenario by name, in the order they run.
pub(crate) const ALL: &[&str] = &[
    "root_without_a_session_redirects_to_sign_in",
    "sign_in_rejects_a_wrong_key_and_accepts_a_right_one",
    "a_prompt_becomes_a_downloadable_shareable_image",
    "a_screenshot_after_generating_is_not_blank",
    "tab_from_the_prompt_reaches_generate",
    "the_whole_flow_works_by_keyboard_alone",
    "a_prompt_becomes_an_image_in_fewer_than_three_clicks",
    "a_moderation_block_says_why_and_keeps_the_prompt",
    "the_rate_limit_says_when_to_try_again",
    "the_budget_says_its_limit_and_when_it_resets",
    "the_dashboard_shows_what_the_usage_store_holds",
    "axe_finds_no_wcag_2_1_aa_violation",
    "phones_render_without_horizontal_scrolling",
    "sign_out_ends_the_session",
    "sso_sign_in_lands_on_home_signed_in",
    "a_custom_size_is_the_size_of_the_image",
    "the_large_view_makes_an_edit_and_a_variation",
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
        "the_whole_flow_works_by_keyboard_alone" => crate::a11y::keyboard_alone(ctx).await,
        "a_prompt_becomes_an_image_in_fewer_than_three_clicks" => few_clicks(ctx).await,
        "a_moderation_block_says_why_and_keeps_the_prompt" => crate::toasts::moderation(ctx).await,
        "the_rate_limit_says_when_to_try_again" => crate::toasts::rate_limit(ctx).await,
        "the_budget_says_its_limit_and_when_it_resets" => crate::toasts::budget(ctx).await,
        "the_dashboard_shows_what_the_usage_store_holds" => crate::dashboard::numbers(ctx).await,
        "axe_finds_no_wcag_2_1_aa_violation" => crate::a11y::axe(ctx).await,
        "phones_render_without_horizontal_scrolling" => {
            crate::phones::no_sideways_scroll(ctx).await
        }
        "sign_out_ends_the_session" => sign_out(ctx).await,
        "sso_sign_in_lands_on_home_signed_in" => crate::sso::sign_in(ctx).await,
        "a_custom_size_is_the_size_of_the_image" => crate::derive::custom_size(ctx).await,
        "the_large_view_makes_an_edit_and_a_variation" => {
            crate::derive::edit_and_variations(ctx).await
        }
        other => Err(format!("no scenario {other}").into()),
    }
}

impl Ctx {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.app.address)
    }

    pub(crate) async fn path(&self) -> Result<String, fantoccini::error::CmdError> {
        Ok(self.client.current_url().await?.path().to_owned())
    }

    /// Waits until the page's path is `want`.
    pub(crate) async fn wait_path(&self, want: &str) -> Outcome {
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

    pub(crate) async fn wait_css(
        &self,
        css: &str,
    ) -> Result<fantoccini::elements::Element, String> {
        // Looked for again until found: a search that meets a page being unloaded fails in
        // WebKit ("Callback was not called before the unload event") rather than finding
        // nothing, and that is no answer about the next page.
        let deadline = Instant::now() + WAIT;
        loop {
            match self.client.find(Locator::Css(css)).await {
                Ok(element) => return Ok(element),
                Err(e) if Instant::now() >= deadline => {
                    return Err(format!("`{css}` never appeared: {e}"))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Runs `script` until it returns something truthy, and returns that.
    pub(crate) async fn wait_script(
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
    pub(crate) async fn sign_in(&self, key: &str) -> Outcome {
        self.client.goto(&self.url("/sign-in")).await?;
        let input = self.wait_css("form#sign-in input#api-key").await?;
        input.clear().await?;
        input.send_keys(key).await?;
        self.click_css("button#sign-in-submit").await?;
        self.wait_path("/").await
    }

    /// Fills the prompt form, asks for one image and waits for it to head the gallery.
    /// Returns the pixels asked for.
    pub(crate) async fn generate(
        &self,
        prompt: &str,
    ) -> Result<(u32, u32), Box<dyn Error + Send + Sync>> {
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
        self.click_css("button#generate-submit").await?;
        self.newest_is(prompt).await?;
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

    /// Waits until the gallery's first image is the one made from `prompt` (its `alt`).
    pub(crate) async fn newest_is(&self, prompt: &str) -> Outcome {
        let check = format!(
            "const f = document.querySelector('#gallery figure.image');\
             const i = f && f.querySelector('img');\
             return !!i && i.getAttribute('alt') === {};",
            json!(prompt)
        );
        self.wait_script("the newest gallery image's alt is the prompt", &check)
            .await?;
        Ok(())
    }

    /// The browser's cookies for the app, as a `Cookie` header.
    pub(crate) async fn cookie_header(&self) -> Result<String, fantoccini::error::CmdError> {
        Ok(self
            .client
            .get_all_cookies()
            .await?
            .iter()
            .map(|c| format!("{}={}", c.name(), c.value()))
            .collect::<Vec<_>>()
            .join("; "))
    }

    /// Clicks `element`. Every click a scenario makes goes through here, so a scenario can
    /// count what a person would have had to click.
    pub(crate) async fn click(&self, element: &Element) -> Outcome {
        self.clicks.fetch_add(1, Ordering::SeqCst);
        element.click().await?;
        Ok(())
    }

    /// Waits for `css` and clicks it.
    pub(crate) async fn click_css(&self, css: &str) -> Outcome {
        let element = self.wait_css(css).await?;
        self.click(&element).await
    }

    /// Clicks made so far.
    pub(crate) fn clicks(&self) -> u32 {
        self.clicks.load(Ordering::SeqCst)
    }

    /// Presses and releases each key of `keys` on the keyboard, in order, as WebDriver key
    /// actions sent to whatever has focus (no element is targeted).
    pub(crate) async fn keys(&self, keys: &str) -> Outcome {
        let mut actions = KeyActions::new("keyboard".to_owned());
        for key in keys.chars() {
            actions = actions
                .then(KeyAction::Down { value: key })
                .then(KeyAction::Up { value: key });
        }
        self.client.perform_actions(actions).await?;
        Ok(())
    }

    /// Presses one key.
    pub(crate) async fn press(&self, key: Key) -> Outcome {
        self.keys(&char::from(key).to_string()).await
    }

    /// Shift+Tab: focus goes back one control.
    pub(crate) async fn shift_tab(&self) -> Outcome {
        let (shift, tab) = (char::from(Key::Shift), char::from(Key::Tab));
        let actions = KeyActions::new("keyboard".to_owned())
            .then(KeyAction::Down { value: shift })
            .then(KeyAction::Down { value: tab })
            .then(KeyAction::Up { value: tab })
            .then(KeyAction::Up { value: shift });
        self.client.perform_actions(actions).await?;
        Ok(())
    }

    /// What has focus, as `#id`, `tag.class` or `tag`, for messages.
    pub(crate) async fn focused(&self) -> Fallible<String> {
        let name = self
            .client
            .execute(
                "const a = document.activeElement;\
                 if (!a) return '';\
                 if (a.id) return '#' + a.id;\
                 return a.tagName.toLowerCase() + (a.className ? '.' + String(a.className).split(' ').join('.') : '');",
                vec![],
            )
            .await?;
        Ok(name.as_str().unwrap_or_default().to_owned())
    }

    /// Presses Tab until the focused element matches `css`, at most `most` times; says which
    /// controls focus passed through when it never gets there.
    pub(crate) async fn tab_to(&self, css: &str, most: usize) -> Outcome {
        let matches = format!(
            "const a = document.activeElement; return !!a && a.matches({});",
            json!(css)
        );
        let mut visited = vec![self.focused().await?];
        for _ in 0..most {
            self.press(Key::Tab).await?;
            visited.push(self.focused().await?);
            if self.client.execute(&matches, vec![]).await? == json!(true) {
                return Ok(());
            }
        }
        Err(format!(
            "Tab never reached `{css}` in {most} presses: {}",
            visited.join(" → ")
        )
        .into())
    }

    /// Starts from no session and signs in with `key`.
    pub(crate) async fn signed_in_as(&self, key: &str) -> Outcome {
        reset(self).await?;
        self.sign_in(key).await
    }

    /// Makes sure the signed-in user's gallery shows at least one image, generating one when
    /// it is empty (earlier scenarios usually left some), and waits until it is painted.
    pub(crate) async fn gallery_has_content(&self) -> Outcome {
        let empty = self
            .client
            .execute(
                "return !document.querySelector('#gallery figure.image img');",
                vec![],
            )
            .await?;
        if empty == json!(true) {
            self.generate(&format!("a bowl of pears, for {}", self.engine.name()))
                .await?;
        }
        self.painted().await
    }

    /// Waits until every image in view has loaded and decoded, then two animation frames, so
    /// a screenshot or a layout reading sees the page as a person would. (Gallery images
    /// below the fold load lazily, when scrolled to; they are not waited for.)
    pub(crate) async fn painted(&self) -> Outcome {
        const IN_VIEW: &str = "const seen = Array.from(document.images).filter(i => {\
               const r = i.getBoundingClientRect();\
               return !i.hidden && r.width > 0 && r.top < window.innerHeight && r.bottom > 0;\
             });";
        self.wait_script(
            "the images in view load",
            &format!("{IN_VIEW} return seen.every(i => i.complete && i.naturalWidth > 0);"),
        )
        .await?;
        self.client
            .execute_async(
                &format!(
                    "const done = arguments[arguments.length - 1]; {IN_VIEW}\
                     Promise.all(seen.map(i => i.decode().catch(() => null)))\
                       .then(() => requestAnimationFrame(() => requestAnimationFrame(() => done(true))));"
                ),
                vec![],
            )
            .await?;
        Ok(())
    }

    /// Opens the prompt form's "Advanced" `<details>` when it is closed.
    pub(crate) async fn open_advanced(&self) -> Outcome {
        let closed = self
            .client
            .execute(
                "const d = document.querySelector('form#generate details');\
                 return !!d && !d.open;",
                vec![],
            )
            .await?;
        if closed == json!(true) {
            self.click_css("form#generate details > summary").await?;
        }
        Ok(())
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
        ctx.click_css("details:has(select#size) > summary").await?;
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
pub(crate) async fn reset(ctx: &Ctx) -> Outcome {
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
    ctx.click_css("button#sign-in-submit").await?;
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
    let downloaded = downloaded_size(ctx, &figure).await?;
    ensure!(
        downloaded == (width, height),
        "Download is {}x{}, asked for {width}x{height}",
        downloaded.0,
        downloaded.1
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

/// Fetches `figure`'s `a.download` with the browser's cookies and returns the PNG's size
/// (failing when it is not a PNG).
pub(crate) async fn downloaded_size(ctx: &Ctx, figure: &Element) -> Fallible<(u32, u32)> {
    let page = ctx.client.current_url().await?;
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
    Ok((png.width(), png.height()))
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
pub(crate) fn varied(
    picture: &image::RgbaImage,
    (left, top, width, height): (u32, u32, u32, u32),
) -> bool {
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

/// From landing on `/` signed in: click into the prompt, type it, click Generate, and the
/// picture heads the gallery. Every click goes through [`Ctx::click`] and is counted.
async fn few_clicks(ctx: &Ctx) -> Outcome {
    ctx.sign_in(&ctx.app.user_key).await?;
    let before = ctx.clicks();
    let prompt = format!("three red kites over a field, for {}", ctx.engine.name());
    ctx.click_css("form#generate textarea#prompt").await?;
    ctx.keys(&prompt).await?;
    ctx.click_css("form#generate button#generate-submit")
        .await?;
    ctx.newest_is(&prompt).await?;
    ctx.wait_script(
        "the new image loads",
        "const i = document.querySelector('#gallery figure.image img');\
         return !!i && i.complete && i.naturalWidth > 0;",
    )
    .await?;
    let clicks = ctx.clicks() - before;
    ensure!(
        clicks < 3,
        "from the prompt page to the image took {clicks} clicks, not fewer than three"
    );
    // The result is announced, not only shown: a status live region says it is done.
    let announced = ctx
        .client
        .execute(
            "return Array.from(document.querySelectorAll('[role=status], [aria-live]'))\
               .filter(e => e.id !== 'prompt-count' && e.id !== 'estimate')\
               .map(e => e.textContent.trim()).filter(t => t.length > 0);",
            vec![],
        )
        .await?;
    ensure!(
        announced.as_array().is_some_and(|said| !said.is_empty()),
        "no live region announces the new image (role=status or aria-live): {announced}"
    );
    Ok(())
}

async fn sign_out(ctx: &Ctx) -> Outcome {
    ctx.sign_in(&ctx.app.user_key).await?;
    ctx.click_css("form#sign-out button#sign-out-submit")
        .await?;
    ctx.wait_path("/sign-in").await?;
    ctx.client.goto(&ctx.url("/")).await?;
    ctx.wait_path("/sign-in").await
}
