//! The web UI over HTTP, as a browser without JavaScript meets it: sign in with a key, write a
//! prompt, find the image in the gallery, download it, sign out. (Real browsers drive the same
//! pages in the browser tests.)

use std::sync::Arc;
use std::time::Duration;

use artgen_core::domain::{KeyEnv, Operation, RequestId, Role};
use artgen_core::ports::{ImageProvider, UsageStore};
use artgen_core::testing::{MockProvider, MockStep};
use artgen_http::compose;
use artgen_http::metrics::Metrics;
use artgen_http::settings::Settings;
use axum::body::{to_bytes, Body};
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use tower::ServiceExt as _;

struct Ui {
    router: axum::Router,
    key: String,
    admin_key: String,
    /// The provider every request reaches, to script and to read back.
    mock: Arc<MockProvider>,
    /// The usage rows the app writes.
    usage: Arc<dyn UsageStore>,
    /// A second user's key.
    other_key: String,
    _data: tempfile::TempDir,
}

async fn ui() -> Ui {
    ui_with(|_| {}).await
}

/// The app on the mock provider, with `tweak` applied to its settings.
async fn ui_with(tweak: impl FnOnce(&mut Settings)) -> Ui {
    let data = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings {
        data_dir: data.path().to_path_buf(),
        ..Settings::default()
    };
    tweak(&mut settings);
    let metrics = Arc::new(Metrics::new());
    let mock = Arc::new(MockProvider::new());
    let upstreams = compose::Upstreams::single(mock.clone() as Arc<dyn ImageProvider>);
    let app = compose::build(&settings, upstreams, metrics)
        .await
        .expect("app builds");
    let key = app
        .stores
        .keys
        .create("lisa", Role::User, KeyEnv::Test)
        .await
        .expect("key")
        .expose_secret()
        .to_owned();
    let admin_key = app
        .stores
        .keys
        .create("root", Role::Admin, KeyEnv::Test)
        .await
        .expect("key")
        .expose_secret()
        .to_owned();
    let other_key = app
        .stores
        .keys
        .create("somchai", Role::User, KeyEnv::Test)
        .await
        .expect("key")
        .expose_secret()
        .to_owned();
    Ui {
        router: artgen_http::build_router(app.state),
        key,
        admin_key,
        mock,
        usage: app.stores.usage.clone(),
        other_key,
        _data: data,
    }
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Ui {
    async fn send(
        &self,
        method: Method,
        uri: &str,
        cookie: Option<&str>,
        form: Option<&str>,
    ) -> Answer {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::HOST, "artgen.test");
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        let body = match form {
            Some(form) => {
                request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                Body::from(form.to_owned())
            }
            None => Body::empty(),
        };
        let response = self
            .router
            .clone()
            .oneshot(request.body(body).expect("request"))
            .await
            .expect("answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = to_bytes(response.into_body(), 16 << 20)
            .await
            .expect("body");
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    async fn signed_in(&self) -> String {
        self.signed_in_with(&self.key).await
    }

    async fn signed_in_with(&self, key: &str) -> String {
        let answer = self
            .send(
                Method::POST,
                "/sign-in",
                None,
                Some(&format!("api_key={key}")),
            )
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        let set = answer.headers[header::SET_COOKIE].to_str().expect("ascii");
        set.split(';').next().expect("name=value").to_owned()
    }
}

fn location(answer: &Answer) -> &str {
    answer.headers[header::LOCATION].to_str().expect("ascii")
}

/// The value of the first `name="csrf"` hidden field of the page.
fn csrf(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    page[at..].split('"').next().expect("value").to_owned()
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => (b as char).to_string(),
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn without_a_session_every_page_but_sign_in_redirects_to_it() {
    let ui = ui().await;
    for uri in ["/", "/?cursor=ab"] {
        let answer = ui.send(Method::GET, uri, None, None).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{uri}");
        assert_eq!(location(&answer), "/sign-in");
    }
    let forged = ui
        .send(
            Method::GET,
            "/",
            Some("artgen_session=eyJ1IjoiYWRtaW4ifQ.00"),
            None,
        )
        .await;
    assert_eq!(
        location(&forged),
        "/sign-in",
        "a forged cookie is no session"
    );
    let page = ui.send(Method::GET, "/sign-in", None, None).await;
    assert_eq!(page.status, StatusCode::OK);
    for id in [
        "form id=\"sign-in\"",
        "id=\"api-key\"",
        "type=\"password\"",
        "id=\"sign-in-submit\"",
    ] {
        assert!(page.body.contains(id), "{id} in {}", page.body);
    }
}

#[tokio::test]
async fn pages_carry_a_strict_csp_and_no_inline_script_or_style() {
    let ui = ui().await;
    let page = ui.send(Method::GET, "/sign-in", None, None).await;
    let csp = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .expect("ascii");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
    let cookie = ui.signed_in().await;
    let home = ui.send(Method::GET, "/", Some(&cookie), None).await;
    for body in [&page.body, &home.body] {
        assert!(
            !body.contains("<script>") && !body.contains("style="),
            "{body}"
        );
        assert!(body.contains("<script src=\"/ui/assets/app."));
    }
    // The linked assets are served, cacheable forever, and small.
    let mut total = 0;
    for name in [
        artgen_http::ui::assets::CSS.name.as_str(),
        artgen_http::ui::assets::JS.name.as_str(),
    ] {
        let asset = ui
            .send(Method::GET, &format!("/ui/assets/{name}"), None, None)
            .await;
        assert_eq!(asset.status, StatusCode::OK, "{name}");
        assert!(asset.headers[header::CACHE_CONTROL]
            .to_str()
            .expect("ascii")
            .contains("immutable"));
        total += asset.body.len();
    }
    assert!(
        total < 50_000,
        "JS + CSS are {total} bytes before compression"
    );
    let stale = ui
        .send(Method::GET, "/ui/assets/app.0000000000.css", None, None)
        .await;
    assert_eq!(stale.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_wrong_key_stays_on_the_sign_in_page_with_an_announced_error() {
    let ui = ui().await;
    let answer = ui
        .send(Method::POST, "/sign-in", None, Some("api_key=ag_test_nope"))
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.body.contains("role=\"alert\""), "{}", answer.body);
    assert!(answer.headers.get(header::SET_COOKIE).is_none());
}

#[tokio::test]
async fn sign_in_prompt_generate_gallery_download_and_sign_out() {
    let ui = ui().await;
    let answer = ui
        .send(
            Method::POST,
            "/sign-in",
            None,
            Some(&format!("api_key={}", ui.key)),
        )
        .await;
    let set = answer.headers[header::SET_COOKIE]
        .to_str()
        .expect("ascii")
        .to_owned();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(part), "{set}");
    }
    assert!(!set.contains(&ui.key), "the key is never in the cookie");
    let cookie = set.split(';').next().expect("pair").to_owned();

    let home = ui.send(Method::GET, "/", Some(&cookie), None).await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("form id=\"generate\""));
    assert!(
        home.body.contains("option value=\"gpt-image-1.5\""),
        "{}",
        home.body
    );
    let token = csrf(&home.body);

    // Without the form token nothing is generated.
    let forged = ui
        .send(
            Method::POST,
            "/ui/generate",
            Some(&cookie),
            Some("prompt=x&model=gpt-image-1.5"),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    let prompt = "a kite over a <river> & hills";
    let form = format!(
        "csrf={token}&prompt={}&model=gpt-image-1.5&size=square&quality=low&n=1",
        url_encode(prompt)
    );
    let made = ui
        .send(Method::POST, "/ui/generate", Some(&cookie), Some(&form))
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
    assert!(location(&made).starts_with("/?made="));

    let home = ui
        .send(Method::GET, location(&made), Some(&cookie), None)
        .await;
    assert!(home.body.contains("class=\"image\""), "{}", home.body);
    assert!(
        home.body
            .contains("alt=\"a kite over a &lt;river&gt; &amp; hills\""),
        "the alt text is the prompt, escaped: {}",
        home.body
    );
    assert!(home.body.contains("Done: your image is first"));
    let at = home
        .body
        .find("class=\"download\" href=\"")
        .expect("a download link")
        + 23;
    let href = home.body[at..]
        .split('"')
        .next()
        .expect("href")
        .replace("&amp;", "&");
    let path = href
        .strip_prefix("http://artgen.test")
        .expect("absolute link");
    let image = ui.send(Method::GET, path, None, None).await;
    assert_eq!(
        image.status,
        StatusCode::OK,
        "the signed link works without a session"
    );

    // Each image opens large with what it was made with; someone else's is not found.
    let at = home.body.find("href=\"/ui/images/").expect("a view link") + 6;
    let view = home.body[at..].split('"').next().expect("href").to_owned();
    let large = ui.send(Method::GET, &view, Some(&cookie), None).await;
    assert_eq!(large.status, StatusCode::OK, "{view}");
    assert!(large.body.contains("id=\"params\"") && large.body.contains("gpt-image-1.5"));
    assert!(large.body.contains("&lt;river&gt;"), "{}", large.body);
    let missing = ui
        .send(Method::GET, "/ui/images/img_nope", Some(&cookie), None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // The price before the click, and a control the model refuses named.
    let priced = ui
        .send(
            Method::GET,
            "/ui/estimate?model=gpt-image-1.5&size=square&quality=low&n=2",
            Some(&cookie),
            None,
        )
        .await;
    let priced: serde_json::Value = serde_json::from_str(&priced.body).expect("json");
    let one = ui
        .send(
            Method::GET,
            "/ui/estimate?model=gpt-image-1.5&size=square&quality=low&n=1",
            Some(&cookie),
            None,
        )
        .await;
    let one: serde_json::Value = serde_json::from_str(&one.body).expect("json");
    let (two, one) = (
        priced["cost_usd"].as_f64().expect("a price"),
        one["cost_usd"].as_f64().expect("a price"),
    );
    assert!(
        one > 0.0 && two > 1.5 * one && two <= 2.0 * one,
        "two images cost about twice one (the prompt is billed once): {one} {two}"
    );
    let refused = ui
        .send(
            Method::GET,
            "/ui/estimate?model=gpt-image-1.5&size=square&quality=standard",
            Some(&cookie),
            None,
        )
        .await;
    let refused: serde_json::Value = serde_json::from_str(&refused.body).expect("json");
    assert!(refused["error"].is_string(), "{refused}");
    let anonymous = ui
        .send(Method::GET, "/ui/estimate?model=x", None, None)
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    // An error keeps the prompt and says why.
    let bad = format!("csrf={token}&prompt=kept+prompt&model=no-such-model&size=square");
    let refused = ui
        .send(Method::POST, "/ui/generate", Some(&cookie), Some(&bad))
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("role=\"alert\""));
    assert!(
        refused.body.contains(">kept prompt</textarea>"),
        "{}",
        refused.body
    );

    let out = ui
        .send(
            Method::POST,
            "/sign-out",
            Some(&cookie),
            Some(&format!("csrf={token}")),
        )
        .await;
    assert_eq!(location(&out), "/sign-in");
    assert!(out.headers[header::SET_COOKIE]
        .to_str()
        .expect("ascii")
        .contains("Max-Age=0"));
}

#[tokio::test]
async fn a_transparent_png_downloads_as_a_png_with_alpha_of_the_size_asked() {
    let ui = ui().await;
    let cookie = ui.signed_in().await;
    let home = ui.send(Method::GET, "/", Some(&cookie), None).await;
    let token = csrf(&home.body);
    let form = format!(
        "csrf={token}&prompt=a+logo&model=gpt-image-1.5&size=landscape&quality=low\
         &background=transparent&format=png&n=1"
    );
    let made = ui
        .send(Method::POST, "/ui/generate", Some(&cookie), Some(&form))
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
    let home = ui.send(Method::GET, "/", Some(&cookie), None).await;
    let at = home
        .body
        .find("class=\"download\" href=\"")
        .expect("a download link")
        + 23;
    let href = home.body[at..]
        .split('"')
        .next()
        .expect("href")
        .replace("&amp;", "&");
    let path = href
        .strip_prefix("http://artgen.test")
        .expect("absolute link");
    let response = ui
        .router
        .clone()
        .oneshot(
            Request::builder()
                .uri(path)
                .header(header::HOST, "artgen.test")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = to_bytes(response.into_body(), 64 << 20)
        .await
        .expect("body");
    let decoded = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)
        .expect("a decodable PNG");
    assert_eq!((decoded.width(), decoded.height()), (1536, 1024));
    assert!(decoded.color().has_alpha(), "transparency was asked for");
}

#[tokio::test]
async fn a_streaming_model_streams_partial_images_to_the_page() {
    let ui = ui().await;
    let cookie = ui.signed_in().await;
    let home = ui.send(Method::GET, "/", Some(&cookie), None).await;
    let token = csrf(&home.body);
    let form = format!("csrf={token}&prompt=a+fox&model=gpt-image-1.5&size=square&quality=low");
    let answer = ui
        .send(Method::POST, "/ui/stream", Some(&cookie), Some(&form))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert!(answer.headers[header::CONTENT_TYPE]
        .to_str()
        .expect("ascii")
        .starts_with("text/event-stream"));
    assert!(answer.body.contains("partial_image"), "{}", answer.body);
    assert!(answer.body.contains(".completed"), "{}", answer.body);
    let forged = ui
        .send(
            Method::POST,
            "/ui/stream",
            Some(&cookie),
            Some("csrf=x&prompt=a"),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let home = ui.send(Method::GET, "/", Some(&cookie), None).await;
    assert!(
        home.body.contains("alt=\"a fox\""),
        "the streamed image is in the gallery"
    );
}

#[tokio::test]
async fn the_admin_dashboard_shows_usage_and_manages_users_and_keys() {
    let ui = ui().await;
    // Some usage to show.
    let user = ui.signed_in().await;
    let home = ui.send(Method::GET, "/", Some(&user), None).await;
    let token = csrf(&home.body);
    let form = format!("csrf={token}&prompt=a+boat&model=gpt-image-1.5&size=square&quality=low");
    ui.send(Method::POST, "/ui/generate", Some(&user), Some(&form))
        .await;
    assert!(
        !home.body.contains("admin-link"),
        "users are not offered the dashboard"
    );
    let refused = ui.send(Method::GET, "/ui/admin", Some(&user), None).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let admin = ui.signed_in_with(&ui.admin_key).await;
    let home = ui.send(Method::GET, "/", Some(&admin), None).await;
    assert!(home.body.contains("id=\"admin-link\""));
    let page = ui.send(Method::GET, "/ui/admin", Some(&admin), None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for part in [
        "id=\"by-user\"",
        "id=\"by-model\"",
        "id=\"cost-chart\"",
        "<rect class=\"bar\"",
        "id=\"queues\"",
        "id=\"keys\"",
    ] {
        assert!(page.body.contains(part), "{part} in {}", page.body);
    }
    assert!(
        page.body.contains("<th scope=\"row\">lisa</th>"),
        "lisa's usage is listed"
    );
    let token = csrf(&page.body);

    // CSV export, parsed back.
    let csv = ui
        .send(
            Method::GET,
            "/ui/admin/usage.csv?group_by=user",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.body.starts_with("key,requests,images,tokens,cost_usd"),
        "{}",
        csv.body
    );
    assert!(
        csv.body.lines().any(|l| l.starts_with("lisa,1,1,")),
        "{}",
        csv.body
    );
    let csv_user = ui
        .send(
            Method::GET,
            "/ui/admin/usage.csv?group_by=user",
            Some(&user),
            None,
        )
        .await;
    assert_eq!(csv_user.status, StatusCode::FORBIDDEN);

    // A budget near its limit is flagged.
    let limits = format!("csrf={token}&user=lisa&budget_usd_per_month=0.001");
    let set = ui
        .send(
            Method::POST,
            "/ui/admin/limits",
            Some(&admin),
            Some(&limits),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert!(set.body.contains("Limits of lisa set."));
    assert!(
        set.body.contains("data-user=\"lisa\" data-status=\"over\""),
        "{}",
        set.body
    );
    let bad = format!("csrf={token}&user=lisa&budget_usd_per_month=lots");
    let bad = ui
        .send(Method::POST, "/ui/admin/limits", Some(&admin), Some(&bad))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("role=\"alert\""));

    // A key made here is shown once and works; revoking lisa's key ends her session.
    let made = ui
        .send(
            Method::POST,
            "/ui/admin/keys",
            Some(&admin),
            Some(&format!("csrf={token}&user=mia&role=user")),
        )
        .await;
    assert_eq!(made.status, StatusCode::OK);
    let at = made.body.find("shown only this once: ").expect("the key") + 22;
    let new_key = made.body[at..]
        .split('<')
        .next()
        .expect("key")
        .trim()
        .to_owned();
    let mia = ui.signed_in_with(&new_key).await;
    assert_eq!(
        ui.send(Method::GET, "/", Some(&mia), None).await.status,
        StatusCode::OK
    );
    let lisa_key = artgen_core::domain::ApiKey::parse(&ui.key).expect("a key");
    let revoke = format!("csrf={token}&public_id={}", lisa_key.public_id());
    let revoked = ui
        .send(
            Method::POST,
            "/ui/admin/keys/revoke",
            Some(&admin),
            Some(&revoke),
        )
        .await;
    assert!(revoked.body.contains("revoked"), "{}", revoked.body);
    let gone = ui.send(Method::GET, "/", Some(&user), None).await;
    assert_eq!(
        location(&gone),
        "/sign-in",
        "a revoked key's session is over"
    );
    let forged = ui
        .send(
            Method::POST,
            "/ui/admin/users",
            Some(&admin),
            Some("csrf=nope&user=x"),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
}

/// The home page's first gallery entry: its image id.
fn first_image(page: &str) -> String {
    let at = page.find("href=\"/ui/images/").expect("a view link") + 17;
    page[at..].split('"').next().expect("id").to_owned()
}

/// The text of the element with `id`, up to its closing tag.
fn text_of<'a>(page: &'a str, id: &str) -> &'a str {
    let open = format!("id=\"{id}\"");
    let at = page.find(&open).unwrap_or_else(|| panic!("{id} in {page}"));
    let from = at + page[at..].find('>').expect("tag end") + 1;
    let len = page[from..].find("</").expect("closing tag");
    &page[from..from + len]
}

/// Signs in, generates one image with `form` (the token is added) and answers the cookie,
/// the CSRF token and the new image's id.
async fn generated(ui: &Ui, form: &str) -> (String, String, String) {
    let cookie = ui.signed_in().await;
    let home = ui.send(Method::GET, "/", Some(&cookie), None).await;
    let token = csrf(&home.body);
    let made = ui
        .send(
            Method::POST,
            "/ui/generate",
            Some(&cookie),
            Some(&format!("csrf={token}&{form}")),
        )
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
    let home = ui.send(Method::GET, "/", Some(&cookie), None).await;
    let id = first_image(&home.body);
    assert_eq!(location(&made), format!("/?made={id}"));
    (cookie, token, id)
}

/// The bytes of a stored image, through its signed link on its large view.
async fn image_bytes(ui: &Ui, cookie: &str, id: &str) -> Vec<u8> {
    let large = ui
        .send(Method::GET, &format!("/ui/images/{id}"), Some(cookie), None)
        .await;
    let at = large.body.find("id=\"large\" src=\"").expect("the image") + 16;
    let href = large.body[at..]
        .split('"')
        .next()
        .expect("src")
        .replace("&amp;", "&");
    let path = href.strip_prefix("http://artgen.test").expect("absolute");
    let request = Request::builder()
        .uri(path)
        .header(header::HOST, "artgen.test")
        .body(Body::empty())
        .expect("request");
    let response = ui.router.clone().oneshot(request).await.expect("answers");
    assert_eq!(response.status(), StatusCode::OK);
    to_bytes(response.into_body(), 64 << 20)
        .await
        .expect("body")
        .to_vec()
}

#[tokio::test]
async fn a_custom_size_is_drawn_as_typed_and_an_edge_out_of_range_is_named() {
    let ui = ui().await;
    let cookie = ui.signed_in().await;
    let home = ui.send(Method::GET, "/", Some(&cookie), None).await;
    let token = csrf(&home.body);
    for part in [
        "option value=\"custom\"",
        "id=\"width\"",
        "id=\"height\"",
        "name=\"width\"",
        "id=\"custom-size-hint\"",
    ] {
        assert!(home.body.contains(part), "{part}");
    }
    let free = home
        .body
        .find("option value=\"gpt-image-2\"")
        .expect("gpt-image-2");
    assert!(
        home.body[free..].contains("data-custom=\"480 3840 16\""),
        "the model's bounds for the script"
    );

    let custom = "prompt=a+banner&model=gpt-image-2&size=custom&width=1280&height=720&quality=low";
    let made = ui
        .send(
            Method::POST,
            "/ui/generate",
            Some(&cookie),
            Some(&format!("csrf={token}&{custom}")),
        )
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
    let call = ui.mock.received().pop().expect("one call");
    assert_eq!(call.size, "1280x720", "sent as typed");
    let home = ui.send(Method::GET, "/", Some(&cookie), None).await;
    assert!(home.body.contains("width=\"1280\" height=\"720\""));

    let wide = "prompt=kept&model=gpt-image-2&size=custom&width=4000&height=1024";
    let refused = ui
        .send(
            Method::POST,
            "/ui/generate",
            Some(&cookie),
            Some(&format!("csrf={token}&{wide}")),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let toast = text_of(&refused.body, "error");
    assert!(toast.contains("width") && toast.contains("4000"), "{toast}");
    assert!(refused.body.contains(">kept</textarea>"));
    assert!(
        refused.body.contains("value=\"4000\""),
        "what was typed stays"
    );
    assert_eq!(ui.mock.calls(), 1, "nothing was sent for the refused size");

    // The price before the click covers custom sizes, and names the edge it refuses.
    let estimate = |query: &'static str| {
        let ui = &ui;
        let cookie = cookie.clone();
        async move {
            let answer = ui.send(Method::GET, query, Some(&cookie), None).await;
            serde_json::from_str::<serde_json::Value>(&answer.body).expect("json")
        }
    };
    let small =
        estimate("/ui/estimate?model=gpt-image-2&size=custom&width=1024&height=1024&quality=high")
            .await;
    let large =
        estimate("/ui/estimate?model=gpt-image-2&size=custom&width=2048&height=2048&quality=high")
            .await;
    let out = estimate("/ui/estimate?model=gpt-image-2&size=custom&width=1024&height=99999").await;
    let fixed =
        estimate("/ui/estimate?model=gpt-image-1.5&size=custom&width=1024&height=1024").await;
    let (small, large) = (
        small["cost_usd"].as_f64().expect("a price"),
        large["cost_usd"].as_f64().expect("a price"),
    );
    assert!(
        large > 3.0 * small,
        "four times the pixels: {small} {large}"
    );
    assert_eq!(out["param"], "height", "{out}");
    assert!(out["error"].as_str().expect("a message").contains("99999"));
    assert_eq!(fixed["param"], "size", "{fixed}");
}

#[tokio::test]
async fn controls_a_model_lacks_are_disabled_with_the_reason() {
    let ui = ui().await;
    let cookie = ui.signed_in().await;
    let home = ui.send(Method::GET, "/", Some(&cookie), None).await;
    let token = csrf(&home.body);
    // After a refusal the page shows the posted model, gpt-image-1.5 (fixed sizes only).
    let form =
        format!("csrf={token}&prompt=p&model=gpt-image-1.5&size=custom&width=1024&height=1024");
    let page = ui
        .send(Method::POST, "/ui/generate", Some(&cookie), Some(&form))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    let body = &page.body;
    assert!(
        text_of(body, "error").contains("gpt-image-1.5 draws only fixed sizes"),
        "{body}"
    );
    assert!(
        body.contains(
            "option value=\"custom\" disabled title=\"gpt-image-1.5 draws only fixed sizes\""
        ),
        "{body}"
    );
    let width = &body[body.find("id=\"width\"").expect("width")..];
    assert!(width[..width.find('>').expect("end")].contains("disabled"));
    assert!(text_of(body, "custom-size-hint").contains("gpt-image-1.5 draws only fixed sizes"));
    assert!(
        body.contains(
            "option value=\"xhigh\" disabled title=\"gpt-image-1.5 does not take quality xhigh\""
        ),
        "{body}"
    );
    assert!(text_of(body, "limits").contains("up to 10 images"));
    // A model with free sizes has them on.
    let form = format!("csrf={token}&prompt=p&model=gpt-image-2&size=custom&width=1&height=1024");
    let page = ui
        .send(Method::POST, "/ui/generate", Some(&cookie), Some(&form))
        .await;
    let width = &page.body[page.body.find("id=\"width\"").expect("width")..];
    let tag = &width[..width.find('>').expect("end")];
    assert!(
        !tag.contains("disabled") && tag.contains("min=\"480\""),
        "{tag}"
    );
}

#[tokio::test]
async fn the_large_view_shows_the_cost_the_usage_store_holds() {
    let ui = ui().await;
    let (cookie, _, id) = generated(
        &ui,
        "prompt=a+lamp&model=gpt-image-1.5&size=portrait&quality=medium&n=1",
    )
    .await;
    let rows = ui
        .usage
        .list(&artgen_core::domain::UsageQuery::default())
        .await
        .expect("rows");
    let row = rows.first().expect("the request's row");
    let cost = row.cost.micros();
    assert!(cost > 0, "a priced model");

    let large = ui
        .send(
            Method::GET,
            &format!("/ui/images/{id}"),
            Some(&cookie),
            None,
        )
        .await;

    assert_eq!(large.status, StatusCode::OK);
    let shown = text_of(&large.body, "cost");
    let whole = cost / 1_000_000;
    let fraction = format!("{:06}", cost % 1_000_000);
    let expected = format!("${whole}.{}", fraction.trim_end_matches('0'));
    assert_eq!(shown, expected, "{}", large.body);
    assert_eq!(text_of(&large.body, "param-quality"), "medium");
    assert_eq!(text_of(&large.body, "param-size"), "1024x1536");
    let time = regex::Regex::new(
        r#"<time datetime="\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z">\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC</time>"#,
    )
    .expect("regex");
    assert!(time.is_match(&large.body), "{}", large.body);
    // The notice after the answer says the same amount.
    let home = ui
        .send(Method::GET, &format!("/?made={id}"), Some(&cookie), None)
        .await;
    assert!(
        text_of(&home.body, "notice").contains(&format!("it cost {expected}")),
        "{}",
        home.body
    );
    // Nothing made up where the store has no row: the usage store is asked by request id.
    assert!(ui
        .usage
        .get(&RequestId::generate())
        .await
        .expect("reads")
        .is_none());
}

#[tokio::test]
async fn an_image_is_the_source_of_an_edit_and_only_for_its_owner() {
    let ui = ui().await;
    let (cookie, token, id) = generated(
        &ui,
        "prompt=a+red+door&model=gpt-image-1.5&size=square&quality=low",
    )
    .await;
    let source = image_bytes(&ui, &cookie, &id).await;
    let large = ui
        .send(
            Method::GET,
            &format!("/ui/images/{id}"),
            Some(&cookie),
            None,
        )
        .await;
    assert!(
        large
            .body
            .contains("<option value=\"gpt-image-1.5\" selected>"),
        "the image's own model is preselected"
    );
    for part in [
        "form id=\"edit-form\"",
        "id=\"edit-prompt\"",
        "id=\"edit-model\"",
        "id=\"edit-submit\"",
    ] {
        assert!(large.body.contains(part), "{part}: {}", large.body);
    }
    assert!(
        !large.body.contains("id=\"variation-form\""),
        "gpt-image-1.5 makes no variations"
    );

    // Someone else cannot use the image, whatever they post.
    let theirs = ui.signed_in_with(&ui.other_key).await;
    let their_page = ui.send(Method::GET, "/", Some(&theirs), None).await;
    let their_token = csrf(&their_page.body);
    let stolen = format!("csrf={their_token}&image={id}&prompt=mine&model=gpt-image-1.5");
    let refused = ui
        .send(Method::POST, "/ui/edit", Some(&theirs), Some(&stolen))
        .await;
    let hidden = ui
        .send(
            Method::GET,
            &format!("/ui/images/{id}"),
            Some(&theirs),
            None,
        )
        .await;
    // An admin may look at it, but makes nothing from it either.
    let admin = ui.signed_in_with(&ui.admin_key).await;
    let admin_page = ui
        .send(Method::GET, &format!("/ui/images/{id}"), Some(&admin), None)
        .await;
    let admin_token = csrf(&admin_page.body);
    let borrowed = format!("csrf={admin_token}&image={id}&prompt=mine&model=gpt-image-1.5");
    let admin_refused = ui
        .send(Method::POST, "/ui/edit", Some(&admin), Some(&borrowed))
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    assert_eq!(admin_page.status, StatusCode::OK);
    assert!(!admin_page.body.contains("id=\"edit-form\""));
    assert_eq!(admin_refused.status, StatusCode::NOT_FOUND);
    assert_eq!(ui.mock.calls(), 1, "no call for someone else's image");

    let form = format!("csrf={token}&image={id}&prompt=make+the+door+blue&model=gpt-image-1.5");
    let forged = ui
        .send(
            Method::POST,
            "/ui/edit",
            Some(&cookie),
            Some(&format!("image={id}&prompt=x&model=gpt-image-1.5")),
        )
        .await;
    assert_eq!(
        forged.status,
        StatusCode::FORBIDDEN,
        "the form token is needed"
    );
    let edited = ui
        .send(Method::POST, "/ui/edit", Some(&cookie), Some(&form))
        .await;

    assert_eq!(edited.status, StatusCode::SEE_OTHER, "{}", edited.body);
    let call = ui.mock.received().pop().expect("the edit's call");
    assert_eq!(call.operation, Operation::Edit);
    assert_eq!(call.prompt, "make the door blue");
    assert_eq!(call.inputs.len(), 1);
    assert_eq!(
        call.inputs[0].as_ref(),
        source.as_slice(),
        "the stored image is the input"
    );
    let home = ui
        .send(Method::GET, location(&edited), Some(&cookie), None)
        .await;
    let new = first_image(&home.body);
    assert_ne!(new, id, "the edit is a new image, first in the gallery");
    assert_eq!(home.body.matches("<figure class=\"image\"").count(), 2);
    assert!(text_of(&home.body, "notice").contains("it cost $"));
}

#[tokio::test]
async fn variations_of_a_square_png_where_the_catalogue_allows_them() {
    // A DALL·E 2 served by a compatible upstream (OpenAI's is retired): the operator's entry.
    let ui = ui_with(|settings| {
        let entry: toml::Table = toml::from_str("like = \"dall-e-2\"").expect("toml");
        settings
            .catalog
            .models
            .insert("dall-e-2-local".into(), entry);
    })
    .await;
    let (cookie, token, id) =
        generated(&ui, "prompt=a+teapot&model=dall-e-2-local&size=square").await;
    let source = image_bytes(&ui, &cookie, &id).await;
    let large = ui
        .send(
            Method::GET,
            &format!("/ui/images/{id}"),
            Some(&cookie),
            None,
        )
        .await;
    for part in [
        "form id=\"variation-form\"",
        "id=\"variation-n\"",
        "id=\"variation-submit\"",
    ] {
        assert!(large.body.contains(part), "{part}: {}", large.body);
    }

    let form = format!("csrf={token}&image={id}&n=2&model=dall-e-2-local");
    let varied = ui
        .send(Method::POST, "/ui/variation", Some(&cookie), Some(&form))
        .await;

    assert_eq!(varied.status, StatusCode::SEE_OTHER, "{}", varied.body);
    let call = ui.mock.received().pop().expect("the variation's call");
    assert_eq!(call.operation, Operation::Variation);
    assert_eq!(call.n, 2);
    assert_eq!(call.inputs[0].as_ref(), source.as_slice());
    let home = ui
        .send(Method::GET, location(&varied), Some(&cookie), None)
        .await;
    assert_eq!(home.body.matches("<figure class=\"image\"").count(), 3);
    assert!(
        text_of(&home.body, "notice").contains("2 images"),
        "{}",
        home.body
    );

    // A wide image cannot feed DALL·E 2's edits: offered, disabled, and refused with why.
    let wide_form =
        format!("csrf={token}&prompt=a+field&model=gpt-image-1.5&size=landscape&quality=low");
    ui.send(
        Method::POST,
        "/ui/generate",
        Some(&cookie),
        Some(&wide_form),
    )
    .await;
    let home = ui.send(Method::GET, "/", Some(&cookie), None).await;
    let wide = first_image(&home.body);
    let page = ui
        .send(
            Method::GET,
            &format!("/ui/images/{wide}"),
            Some(&cookie),
            None,
        )
        .await;
    assert!(
        page.body
            .contains("dall-e-2-local takes square images only, and this one is 1536x1024"),
        "{}",
        page.body
    );
    let calls = ui.mock.calls();
    let posted = format!("csrf={token}&image={wide}&prompt=x&model=dall-e-2-local");
    let refused = ui
        .send(Method::POST, "/ui/edit", Some(&cookie), Some(&posted))
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        text_of(&refused.body, "error").contains("square"),
        "{}",
        refused.body
    );
    assert_eq!(ui.mock.calls(), calls, "refused before any call");
}

/// A form posting `prompt` to `model` at its lowest quality.
fn prompt_form(token: &str, model: &str) -> String {
    format!("csrf={token}&prompt=a+kept+prompt&model={model}&size=square&quality=low")
}

#[tokio::test]
async fn a_moderation_block_gives_the_reason_the_policy_link_and_keeps_the_prompt() {
    let ui = ui().await;
    let cookie = ui.signed_in().await;
    let home = ui.send(Method::GET, "/", Some(&cookie), None).await;
    let token = csrf(&home.body);

    ui.mock
        .push(MockStep::moderation("violent content is not allowed"));
    let blocked = ui
        .send(
            Method::POST,
            "/ui/generate",
            Some(&cookie),
            Some(&prompt_form(&token, "gpt-image-1.5")),
        )
        .await;
    // The script's path (a streaming model) says the same, as JSON.
    ui.mock
        .push(MockStep::moderation("violent content is not allowed"));
    let streamed = ui
        .send(
            Method::POST,
            "/ui/stream",
            Some(&cookie),
            Some(&prompt_form(&token, "gpt-image-2")),
        )
        .await;

    assert_eq!(blocked.status, StatusCode::BAD_REQUEST);
    let region = regex::Regex::new(
        r#"<div (class="error toast" id="error"|id="error" class="error toast") role="alert">"#,
    )
    .expect("regex");
    assert!(region.is_match(&blocked.body), "{}", blocked.body);
    let toast = text_of(&blocked.body, "error");
    assert!(toast.contains("Violent content is not allowed."), "{toast}");
    assert!(blocked
        .body
        .contains("href=\"https://openai.com/policies/usage-policies\""));
    assert!(blocked.body.contains(">a kept prompt</textarea>"));
    assert_eq!(streamed.status, StatusCode::BAD_REQUEST);
    let json: serde_json::Value = serde_json::from_str(&streamed.body).expect("json");
    let message = json["error"]["message"].as_str().expect("message");
    assert!(
        message.contains("Violent content is not allowed."),
        "{json}"
    );
    assert_eq!(
        json["error"]["link"]["href"],
        "https://openai.com/policies/usage-policies"
    );
}

#[tokio::test]
async fn a_rate_limit_says_in_how_many_seconds_to_try_again() {
    let ui = ui().await;
    let cookie = ui.signed_in().await;
    let home = ui.send(Method::GET, "/", Some(&cookie), None).await;
    let token = csrf(&home.body);

    // Each model is limited apart upstream, so each refusal uses its own.
    ui.mock
        .push(MockStep::rate_limited(Duration::from_secs(120)));
    let limited = ui
        .send(
            Method::POST,
            "/ui/generate",
            Some(&cookie),
            Some(&prompt_form(&token, "gpt-image-1.5")),
        )
        .await;
    ui.mock
        .push(MockStep::rate_limited(Duration::from_secs(90)));
    let streamed = ui
        .send(
            Method::POST,
            "/ui/stream",
            Some(&cookie),
            Some(&prompt_form(&token, "gpt-image-2")),
        )
        .await;

    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    let toast = text_of(&limited.body, "error");
    assert!(toast.contains("Try again in 120 s."), "{toast}");
    assert_eq!(streamed.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(streamed.headers[header::RETRY_AFTER], "90");
    let json: serde_json::Value = serde_json::from_str(&streamed.body).expect("json");
    let message = json["error"]["message"].as_str().expect("message");
    assert!(message.contains("Try again in 90 s."), "{json}");
}

#[tokio::test]
async fn a_spent_budget_gives_its_limit_and_reset_date() {
    let ui = ui().await;
    let admin = ui.signed_in_with(&ui.admin_key).await;
    let dashboard = ui.send(Method::GET, "/ui/admin", Some(&admin), None).await;
    let admin_token = csrf(&dashboard.body);
    let limits = format!("csrf={admin_token}&user=lisa&budget_usd_per_month=0.001");
    let set = ui
        .send(
            Method::POST,
            "/ui/admin/limits",
            Some(&admin),
            Some(&limits),
        )
        .await;
    assert!(set.body.contains("Limits of lisa set."), "{}", set.body);
    let cookie = ui.signed_in().await;
    let home = ui.send(Method::GET, "/", Some(&cookie), None).await;
    let token = csrf(&home.body);

    let broke = ui
        .send(
            Method::POST,
            "/ui/generate",
            Some(&cookie),
            Some(&prompt_form(&token, "gpt-image-1.5")),
        )
        .await;

    assert_eq!(
        broke.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        broke.body
    );
    let toast = text_of(&broke.body, "error");
    assert!(toast.contains("monthly budget of $0.001"), "{toast}");
    let reset = regex::Regex::new(r"resets on \d{4}-\d{2}-\d{2} 00:00 UTC\.").expect("regex");
    assert!(reset.is_match(toast), "{toast}");
    assert_eq!(ui.mock.calls(), 0, "refused before the upstream");
}

#[tokio::test]
async fn a_session_acts_under_the_limits_an_admin_sets_on_its_user() {
    let ui = ui().await;
    // Signed in before the change: the change applies to the session's next request.
    let user = ui.signed_in().await;
    let admin = ui.signed_in_with(&ui.admin_key).await;
    let page = ui.send(Method::GET, "/ui/admin", Some(&admin), None).await;
    let admin_token = csrf(&page.body);
    let set = |limits: &'static str| {
        let form = format!("csrf={admin_token}&user=lisa&{limits}");
        let ui = &ui;
        let admin = admin.clone();
        async move {
            let answer = ui
                .send(Method::POST, "/ui/admin/limits", Some(&admin), Some(&form))
                .await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        }
    };
    let home = ui.send(Method::GET, "/", Some(&user), None).await;
    let form = format!(
        "csrf={}&prompt=a+boat&model=gpt-image-1.5&size=square&quality=low&n=1",
        csrf(&home.body)
    );
    let generate = || ui.send(Method::POST, "/ui/generate", Some(&user), Some(&form));

    set("rate_limit_per_minute=1&rate_limit_burst=1").await;
    assert_eq!(
        generate().await.status,
        StatusCode::SEE_OTHER,
        "the minute's one request"
    );
    let limited = generate().await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.body
    );
    assert!(limited.body.contains("role=\"alert\""), "{}", limited.body);
    assert!(
        limited.body.to_lowercase().contains("try again in"),
        "{}",
        limited.body
    );

    set("budget_usd_per_month=0.001&rate_limit_per_minute=&rate_limit_burst=").await;
    let over = generate().await;
    assert_eq!(over.status, StatusCode::TOO_MANY_REQUESTS, "{}", over.body);
    assert!(
        over.body.contains("budget of $0.001 "),
        "the limit is named: {}",
        over.body
    );
}

#[tokio::test]
async fn a_session_acts_under_its_organisations_budget() {
    let ui = ui().await;
    let admin = ui.signed_in_with(&ui.admin_key).await;
    let page = ui.send(Method::GET, "/ui/admin", Some(&admin), None).await;
    let token = csrf(&page.body);
    let created = ui
        .send(
            Method::POST,
            "/ui/admin/users",
            Some(&admin),
            Some(&format!("csrf={token}&user=olga&org=acme")),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let made = ui
        .send(
            Method::POST,
            "/ui/admin/keys",
            Some(&admin),
            Some(&format!("csrf={token}&user=olga&role=user")),
        )
        .await;
    let at = made.body.find("shown only this once: ").expect("the key") + 22;
    let key = made.body[at..]
        .split('<')
        .next()
        .expect("key")
        .trim()
        .to_owned();
    let olga = ui.signed_in_with(&key).await;

    // The organisation's budget, set after olga signed in, through the admin API.
    let request = Request::builder()
        .method(Method::PUT)
        .uri("/admin/orgs/acme/limits")
        .header(header::HOST, "artgen.test")
        .header(header::AUTHORIZATION, format!("Bearer {}", ui.admin_key))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"budget_usd_per_month": 0.001}"#))
        .expect("request");
    let set = ui.router.clone().oneshot(request).await.expect("answers");
    assert_eq!(set.status(), StatusCode::OK);

    let home = ui.send(Method::GET, "/", Some(&olga), None).await;
    let form = format!(
        "csrf={}&prompt=a+boat&model=gpt-image-1.5&size=square&quality=low&n=1",
        csrf(&home.body)
    );
    let over = ui
        .send(Method::POST, "/ui/generate", Some(&olga), Some(&form))
        .await;
    assert_eq!(over.status, StatusCode::TOO_MANY_REQUESTS, "{}", over.body);
    assert!(over.body.contains("organisation"), "{}", over.body);
    assert!(over.body.contains("budget of $0.001 "), "{}", over.body);
}
