//! The `/v1/images/*` routes driven by the `async-openai` SDK pointed at ArtGen: it must parse
//! every answer, errors included.

use std::io::Cursor;

use artgen_tests::{spawn_app, TestApp, TestOptions, Upstream};
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::images::{
    CreateImageEditRequestArgs, CreateImageRequestArgs, CreateImageVariationRequestArgs,
    DallE2ImageSize, Image, ImageGenStreamEvent, ImageInput, ImageModel, ImageQuality,
    ImageResponseFormat, ImageSize,
};
use async_openai::Client;
use base64::Engine as _;
use futures_util::StreamExt as _;
use image::{ImageFormat, Rgba, RgbaImage};

fn sdk(app: &TestApp) -> Client<OpenAIConfig> {
    // The SDK's reqwest is built without a TLS provider (ArtGen is reached over plain HTTP
    // here); rustls still wants one installed before a client is built.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = OpenAIConfig::new()
        .with_api_base(format!("{}/v1", app.address))
        .with_api_key(&app.user_key);
    Client::with_config(config)
}

fn png(image: &RgbaImage) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, ImageFormat::Png).expect("encodes");
    out.into_inner()
}

fn decoded(b64: &str) -> image::DynamicImage {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64");
    image::load_from_memory(&bytes).expect("decodable")
}

async fn mock_app() -> TestApp {
    spawn_app(TestOptions {
        upstream: Upstream::Mock,
        ..TestOptions::default()
    })
    .await
}

#[tokio::test]
async fn the_sdk_generates_with_gpt_image_and_dall_e() {
    let app = mock_app().await;
    let client = sdk(&app);

    let request = CreateImageRequestArgs::default()
        .model(ImageModel::Other("gpt-image-1".into()))
        .prompt("a lighthouse at dusk")
        .size(ImageSize::S1024x1024)
        .quality(ImageQuality::Low)
        .build()
        .expect("request");
    let answer = client
        .images()
        .generate(request)
        .await
        .expect("SDK parses the answer");
    let Image::B64Json { b64_json, .. } = answer.data[0].as_ref() else {
        panic!("gpt-image answers with base64");
    };
    assert_eq!(decoded(b64_json).width(), 1024);
    assert!(answer.usage.is_some());

    // DALL·E answers with a URL by default, as upstream; the URL serves the image.
    let request = CreateImageRequestArgs::default()
        .model(ImageModel::Other("dall-e-2".into()))
        .prompt("a lighthouse at dusk")
        .size(ImageSize::S256x256)
        .n(2u8)
        .build()
        .expect("request");
    let answer = client
        .images()
        .generate(request)
        .await
        .expect("SDK parses the answer");
    assert_eq!(answer.data.len(), 2);
    let Image::Url { url, .. } = answer.data[1].as_ref() else {
        panic!("dall-e answers with a URL by default");
    };
    let served = app.get(url, None).await;
    assert_eq!(served.status(), 200);
}

#[tokio::test]
async fn the_sdk_edits_with_a_mask_and_makes_variations() {
    let app = mock_app().await;
    let client = sdk(&app);
    let original = RgbaImage::from_pixel(256, 256, Rgba([200, 10, 10, 255]));
    let mask = RgbaImage::from_fn(256, 256, |_, y| {
        Rgba([0, 0, 0, if y < 64 { 0 } else { 255 }])
    });

    let request = CreateImageEditRequestArgs::default()
        .model(ImageModel::Other("dall-e-2".into()))
        .image(ImageInput::from_vec_u8("photo.png".into(), png(&original)))
        .mask(ImageInput::from_vec_u8("mask.png".into(), png(&mask)))
        .prompt("a blue sky")
        .size(ImageSize::S256x256)
        .response_format(ImageResponseFormat::B64Json)
        .build()
        .expect("request");
    let answer = client
        .images()
        .edit(request)
        .await
        .expect("SDK parses the edit");
    let Image::B64Json { b64_json, .. } = answer.data[0].as_ref() else {
        panic!("asked for base64");
    };
    let edited = decoded(b64_json).to_rgba8();
    assert_eq!(
        edited.get_pixel(100, 200),
        original.get_pixel(100, 200),
        "opaque mask area kept"
    );
    assert_ne!(
        edited.get_pixel(100, 10),
        original.get_pixel(100, 10),
        "transparent mask area replaced"
    );

    let request = CreateImageVariationRequestArgs::default()
        .image(ImageInput::from_vec_u8("photo.png".into(), png(&original)))
        .n(2u8)
        .size(DallE2ImageSize::S256x256)
        .response_format(ImageResponseFormat::B64Json)
        .build()
        .expect("request");
    #[expect(
        deprecated,
        reason = "the SDK deprecates variations; ArtGen still serves them"
    )]
    let answer = client
        .images()
        .create_variation(request)
        .await
        .expect("SDK parses the variation");
    assert_eq!(answer.data.len(), 2);
}

#[tokio::test]
async fn the_sdk_streams_a_generation() {
    let app = mock_app().await;
    let request = CreateImageRequestArgs::default()
        .model(ImageModel::Other("gpt-image-1".into()))
        .prompt("a lighthouse at dusk")
        .size(ImageSize::S1024x1024)
        .quality(ImageQuality::Low)
        .partial_images(1u8)
        .build()
        .expect("request");
    let mut stream = sdk(&app)
        .images()
        .generate_stream(request)
        .await
        .expect("stream opens");
    let mut kinds = Vec::new();
    while let Some(event) = stream.next().await {
        match event.expect("SDK parses every event") {
            ImageGenStreamEvent::PartialImage(_) => kinds.push("partial"),
            ImageGenStreamEvent::Completed(done) => {
                assert_eq!(decoded(&done.b64_json).height(), 1024);
                kinds.push("completed");
            }
        }
    }
    assert_eq!(kinds, ["partial", "completed"]);
}

#[tokio::test]
async fn the_sdk_parses_our_errors() {
    let app = mock_app().await;
    let request = CreateImageRequestArgs::default()
        .model(ImageModel::Other("gpt-image-1".into()))
        .prompt("a lighthouse at dusk")
        .size(ImageSize::S256x256)
        .build()
        .expect("request");

    let err = sdk(&app)
        .images()
        .generate(request)
        .await
        .expect_err("256x256 is not a gpt-image-1 size");

    let OpenAIError::ApiError(api) = err else {
        panic!("expected an API error, got {err:?}");
    };
    assert_eq!(api.status_code.as_u16(), 400);
    assert_eq!(api.api_error.param.as_deref(), Some("size"));
    assert_eq!(api.api_error.code.as_deref(), Some("invalid_value"));
    assert_eq!(app.upstream_calls().await, 0);

    let _ = sdk(&app);
    let anonymous = Client::with_config(
        OpenAIConfig::new()
            .with_api_base(format!("{}/v1", app.address))
            .with_api_key("nope"),
    );
    let request = CreateImageRequestArgs::default()
        .prompt("x")
        .build()
        .expect("request");
    let Err(OpenAIError::ApiError(api)) = anonymous.images().generate(request).await else {
        panic!("expected a 401 API error");
    };
    assert_eq!(api.status_code.as_u16(), 401);
}
