//! `/edit` and `/variation`: mask semantics, and every upload check before the upstream.

use std::io::Cursor;

use artgen_core::domain::{Dimensions, OutputFormat};
use artgen_core::testing::render;
use artgen_tests::{spawn_app, upstream, TestOptions, Upstream};
use image::{ImageFormat, Rgba, RgbaImage};
use reqwest::multipart::{Form, Part};

use crate::helpers::{assert_error, decoded_size, json_of};

fn encode(image: &RgbaImage) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, ImageFormat::Png).expect("encodes");
    out.into_inner()
}

fn file(bytes: Vec<u8>, name: &str, mime: &str) -> Part {
    Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str(mime)
        .expect("valid mime")
}

fn png(w: u32, h: u32) -> Vec<u8> {
    render(Dimensions::new(w, h), OutputFormat::Png, false, 3)
        .expect("renders")
        .to_vec()
}

/// A 256x256 image of one colour, and a mask transparent on its left half.
fn image_and_mask() -> (RgbaImage, Vec<u8>, Vec<u8>) {
    let original = RgbaImage::from_pixel(256, 256, Rgba([10, 20, 30, 255]));
    let mask = RgbaImage::from_fn(256, 256, |x, _| {
        Rgba([0, 0, 0, if x < 128 { 0 } else { 255 }])
    });
    let (a, b) = (encode(&original), encode(&mask));
    (original, a, b)
}

fn edit_form(model: &str, image: Vec<u8>, mask: Option<Vec<u8>>) -> Form {
    let mut form = Form::new()
        .text("model", model.to_owned())
        .text("prompt", "add a red balloon".to_owned())
        .text("size", "256x256".to_owned())
        .part("image", file(image, "photo.png", "image/png"));
    if let Some(mask) = mask {
        form = form.part("mask", file(mask, "mask.png", "image/png"));
    }
    form
}

#[tokio::test]
async fn an_edit_changes_only_the_transparent_area_of_the_mask() {
    let app = spawn_app(TestOptions {
        upstream: Upstream::Mock,
        ..TestOptions::default()
    })
    .await;
    let (original, image, mask) = image_and_mask();

    let response = app
        .post_form(
            "/edit",
            &app.user_key,
            edit_form("dall-e-2", image, Some(mask)),
        )
        .await;

    assert_eq!(response.status(), 200);
    let json = json_of(response).await;
    let b64 = json["images"][0]["b64_json"].as_str().expect("b64_json");
    assert_eq!(decoded_size(b64), (256, 256));
    let bytes =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).expect("base64");
    let edited = image::load_from_memory(&bytes).expect("decodes").to_rgba8();
    let mut changed_left = 0;
    for (x, y, pixel) in edited.enumerate_pixels() {
        if x >= 128 {
            assert_eq!(
                pixel,
                original.get_pixel(x, y),
                "opaque mask area must be kept at {x},{y}"
            );
        } else if pixel != original.get_pixel(x, y) {
            changed_left += 1;
        }
    }
    assert_eq!(
        changed_left,
        128 * 256,
        "every transparent mask pixel is replaced"
    );
    assert_eq!(json["cost_micros"], 16_000, "DALL·E 2 256x256 edit price");
}

#[tokio::test]
async fn edits_and_variations_go_through_the_openai_adapter() {
    let app = spawn_app(TestOptions::default()).await;
    let server = app.upstream.as_ref().expect("wiremock");
    upstream::mount_uploads(server).await;
    let (_, image, mask) = image_and_mask();

    let edit = app
        .post_form(
            "/edit",
            &app.user_key,
            edit_form("dall-e-2", image.clone(), Some(mask)),
        )
        .await;
    assert_eq!(edit.status(), 200);
    let variation = Form::new()
        .text("n", "1".to_owned())
        .text("size", "256x256".to_owned())
        .part("image", file(image, "photo.png", "image/png"));
    let variation = app.post_form("/variation", &app.user_key, variation).await;
    assert_eq!(variation.status(), 200);
    let json = json_of(variation).await;
    assert_eq!(json["model"], "dall-e-2");

    let received = server.received_requests().await.expect("recorded");
    let paths: Vec<_> = received.iter().map(|r| r.url.path().to_owned()).collect();
    assert_eq!(paths, ["/images/edits", "/images/variations"]);
}

#[tokio::test]
async fn variations_make_n_square_images() {
    let app = spawn_app(TestOptions {
        upstream: Upstream::Mock,
        ..TestOptions::default()
    })
    .await;
    let form = Form::new()
        .text("model", "dall-e-2".to_owned())
        .text("n", "2".to_owned())
        .text("size", "256x256".to_owned())
        .part("image", file(png(64, 64), "in.png", "image/png"));

    let json = json_of(app.post_form("/variation", &app.user_key, form).await).await;

    assert_eq!(json["images"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        decoded_size(json["images"][1]["b64_json"].as_str().expect("b64")),
        (256, 256)
    );
    assert_eq!(json["cost_micros"], 32_000);
}

#[tokio::test]
async fn every_bad_upload_is_refused_naming_the_part_without_an_upstream_call() {
    let app = spawn_app(TestOptions {
        upstream: Upstream::Mock,
        ..TestOptions::default()
    })
    .await;
    let jpeg = render(Dimensions::new(64, 64), OutputFormat::Jpeg, false, 0)
        .expect("renders")
        .to_vec();
    let mut opaque_mask = Cursor::new(Vec::new());
    image::RgbImage::new(256, 256)
        .write_to(&mut opaque_mask, ImageFormat::Png)
        .expect("encodes");
    let opaque_mask = opaque_mask.into_inner();
    let mut bomb = b"\x89PNG\r\n\x1a\n".to_vec();
    bomb.extend_from_slice(&[0, 0, 0, 13]);
    bomb.extend_from_slice(b"IHDR");
    bomb.extend_from_slice(&100_000u32.to_be_bytes());
    bomb.extend_from_slice(&100_000u32.to_be_bytes());
    bomb.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
    bomb.extend_from_slice(&[0, 0, 0, 0]);
    bomb.extend_from_slice(b"IEND");
    bomb.extend_from_slice(&[0, 0, 0, 0]);
    let big = vec![0u8; 5 * 1024 * 1024];
    let mut big_png = png(256, 256);
    big_png.extend_from_slice(&big);

    let cases: Vec<(&str, Form, u16, &str, &str)> = vec![
        (
            "/edit",
            edit_form("dall-e-2", jpeg.clone(), None),
            400,
            "invalid_image_format",
            "image",
        ),
        (
            "/edit",
            Form::new()
                .text("model", "dall-e-2")
                .text("prompt", "x")
                .part("image", file(jpeg, "a.jpg", "image/jpeg")),
            400,
            "invalid_image_format",
            "image",
        ),
        (
            "/edit",
            Form::new()
                .text("model", "dall-e-2")
                .text("prompt", "x")
                .part("image", file(b"GIF89a....".to_vec(), "a.gif", "image/gif")),
            400,
            "invalid_image_format",
            "image",
        ),
        (
            "/edit",
            edit_form("dall-e-2", png(256, 128), None),
            400,
            "invalid_image",
            "image",
        ),
        (
            "/edit",
            edit_form("dall-e-2", png(256, 256), Some(png(128, 128))),
            400,
            "invalid_image",
            "mask",
        ),
        (
            "/edit",
            edit_form("dall-e-2", png(256, 256), Some(opaque_mask)),
            400,
            "invalid_image",
            "mask",
        ),
        (
            "/edit",
            edit_form("dall-e-2", bomb, None),
            400,
            "invalid_image",
            "image",
        ),
        (
            "/edit",
            edit_form("dall-e-2", big_png, None),
            400,
            "image_too_large",
            "image",
        ),
        (
            "/edit",
            Form::new().text("model", "dall-e-2").text("prompt", "x"),
            400,
            "missing_required_parameter",
            "image",
        ),
        (
            "/edit",
            edit_form("dall-e-2", png(256, 256), None)
                .part("colour", file(png(8, 8), "c.png", "image/png")),
            400,
            "unknown_parameter",
            "colour",
        ),
        (
            "/edit",
            edit_form("dall-e-3", png(256, 256), None),
            400,
            "invalid_value",
            "model",
        ),
        (
            "/variation",
            Form::new()
                .text("model", "gpt-image-1")
                .part("image", file(png(64, 64), "a.png", "image/png")),
            400,
            "invalid_value",
            "model",
        ),
        (
            "/variation",
            Form::new().part("image", file(png(64, 32), "a.png", "image/png")),
            400,
            "invalid_image",
            "image",
        ),
        (
            "/variation",
            Form::new()
                .text("n", "eleven")
                .part("image", file(png(64, 64), "a.png", "image/png")),
            400,
            "invalid_value",
            "n",
        ),
    ];
    for (path, form, status, code, param) in cases {
        let response = app.post_form(path, &app.user_key, form).await;
        assert_eq!(response.status(), status, "{path} {code} {param}");
        assert_error(&json_of(response).await, code, Some(param));
    }
    let mut many = Form::new().text("model", "gpt-image-1").text("prompt", "x");
    for _ in 0..60 {
        many = many.part("image[]", file(png(16, 16), "a.png", "image/png"));
    }
    let response = app.post_form("/edit", &app.user_key, many).await;
    assert_eq!(response.status(), 400);
    let json_body = app
        .post_raw(
            "/edit",
            Some(&app.user_key),
            r#"{"model":"dall-e-2","prompt":"x"}"#.to_owned(),
        )
        .await;
    assert_eq!(json_body.status(), 415);
    assert_eq!(app.upstream_calls().await, 0, "nothing went upstream");
}

#[tokio::test]
async fn uploads_beyond_the_concurrent_limit_wait_for_a_slot() {
    let app = spawn_app(TestOptions {
        upstream: Upstream::Mock,
        mock_latency: std::time::Duration::from_millis(800),
        tweak: |s| s.max_concurrent_uploads = 1,
        ..TestOptions::default()
    })
    .await;
    let variation = || {
        Form::new()
            .text("size", "256x256")
            .part("image", file(png(64, 64), "a.png", "image/png"))
    };
    let started = std::time::Instant::now();
    let (first, second) = tokio::join!(
        app.post_form("/variation", &app.user_key, variation()),
        app.post_form("/variation", &app.user_key, variation())
    );
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(1600),
        "the second upload waited for the first: {:?}",
        started.elapsed()
    );
}
