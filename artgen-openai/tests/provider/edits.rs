//! Edits and variations: multipart bodies with the uploads' exact bytes.

use artgen_core::domain::{
    GenerateParams, InputFidelity, OutputFormat, Quality, TokenUsage, VariationParams,
};
use artgen_core::ports::ImageProvider;
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer};

use crate::forms::{edit, field, find, image, names, parts, upload, variation};
use crate::helpers::{images_answer, only_request, png, provider, KEY};

/// Mounts `answer` for POSTs to `/v1/images/{operation}` carrying the key.
async fn answer(server: &MockServer, operation: &str, answer: wiremock::ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(format!("/v1/images/{operation}")))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .respond_with(answer)
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn an_edit_with_one_image_and_a_mask_sends_both_files_unchanged() {
    let server = MockServer::start().await;
    let usage = json!({"input_tokens": 300, "output_tokens": 1056,
        "input_tokens_details": {"text_tokens": 6, "image_tokens": 294}});
    answer(&server, "edits", images_answer(&[7], Some(usage))).await;
    let photo = image(OutputFormat::Png, 64, false, 1);
    let mask = image(OutputFormat::Png, 64, true, 2);
    let options = GenerateParams {
        quality: Some(Quality::High),
        size: Some("1024x1024".into()),
        ..GenerateParams::default()
    };
    let job = edit(
        "gpt-image-1",
        options,
        vec![upload("image", "photo.png", photo.clone())],
        Some(upload("mask", "mask.png", mask.clone())),
        Some(InputFidelity::High),
    );

    let response = provider(&server)
        .run(&job)
        .await
        .expect("the edit succeeds");

    assert_eq!(response.images[0].bytes, png(7));
    let expected = TokenUsage {
        input_text_tokens: 6,
        input_image_tokens: 294,
        output_image_tokens: 1056,
        output_text_tokens: 0,
        ..TokenUsage::default()
    };
    assert_eq!(response.usage, Some(expected));
    let request = only_request(&server).await;
    assert!(find(&request.body, &photo, 0).is_some(), "image bytes sent");
    assert!(find(&request.body, &mask, 0).is_some(), "mask bytes sent");
    let parts = parts(&request);
    assert_eq!(
        names(&parts),
        [
            "input_fidelity",
            "model",
            "n",
            "prompt",
            "quality",
            "size",
            "image",
            "mask"
        ]
    );
    assert_eq!(field(&parts, "model").text(), "gpt-image-1");
    assert_eq!(field(&parts, "prompt").text(), "add a red scarf");
    assert_eq!(field(&parts, "n").text(), "1");
    assert_eq!(field(&parts, "quality").text(), "high");
    assert_eq!(field(&parts, "input_fidelity").text(), "high");
    let sent_image = field(&parts, "image");
    assert_eq!(sent_image.body, photo.to_vec());
    assert_eq!(sent_image.filename.as_deref(), Some("photo.png"));
    assert_eq!(sent_image.content_type.as_deref(), Some("image/png"));
    let sent_mask = field(&parts, "mask");
    assert_eq!(sent_mask.body, mask.to_vec());
    assert_eq!(sent_mask.filename.as_deref(), Some("mask.png"));
}

#[tokio::test]
async fn an_edit_with_three_images_sends_repeated_image_array_parts_with_their_types() {
    let server = MockServer::start().await;
    answer(&server, "edits", images_answer(&[1], None)).await;
    let inputs = [
        (OutputFormat::Jpeg, "a.jpg", "image/jpeg"),
        (OutputFormat::Webp, "b.webp", "image/webp"),
        (OutputFormat::Png, "c.png", "image/png"),
    ];
    let files: Vec<_> = inputs
        .iter()
        .enumerate()
        .map(|(seed, (format, name, _))| {
            let seed = u8::try_from(seed).expect("small");
            (name, image(*format, 32, false, seed))
        })
        .collect();
    let uploads = files
        .iter()
        .map(|(name, bytes)| upload("image[]", name, bytes.clone()))
        .collect();
    let options = GenerateParams {
        format: Some(OutputFormat::Webp),
        output_compression: Some(70),
        ..GenerateParams::default()
    };
    let job = edit("gpt-image-1", options, uploads, None, None);

    provider(&server)
        .run(&job)
        .await
        .expect("the edit succeeds");

    let request = only_request(&server).await;
    assert!(
        find(&request.body, b"name=\"image[]\"", 0).is_some(),
        "not percent-encoded"
    );
    let parts = parts(&request);
    let images: Vec<_> = parts.iter().filter(|p| p.name == "image[]").collect();
    assert_eq!(images.len(), 3);
    assert!(parts.iter().all(|p| p.name != "image" && p.name != "mask"));
    for ((sent, (_, name, mime)), (_, bytes)) in images.iter().zip(&inputs).zip(&files) {
        assert_eq!(sent.filename.as_deref(), Some(*name));
        assert_eq!(sent.content_type.as_deref(), Some(*mime));
        assert_eq!(sent.body, bytes.to_vec());
    }
    assert_eq!(field(&parts, "output_format").text(), "webp");
    assert_eq!(field(&parts, "output_compression").text(), "70");
}

#[tokio::test]
async fn a_dall_e_2_edit_asks_for_base64_and_sends_no_gpt_only_parameters() {
    let server = MockServer::start().await;
    answer(&server, "edits", images_answer(&[2], None)).await;
    let photo = image(OutputFormat::Png, 64, true, 3);
    let options = GenerateParams {
        size: Some("256x256".into()),
        quality: Some(Quality::Standard),
        user: Some("user-7".into()),
        ..GenerateParams::default()
    };
    let job = edit(
        "dall-e-2",
        options,
        vec![upload("image", "square.png", photo.clone())],
        None,
        None,
    );

    let response = provider(&server)
        .run(&job)
        .await
        .expect("the edit succeeds");

    assert_eq!(response.images[0].bytes, png(2));
    let parts = parts(&only_request(&server).await);
    assert_eq!(
        names(&parts),
        [
            "model",
            "n",
            "prompt",
            "quality",
            "response_format",
            "size",
            "user",
            "image"
        ]
    );
    assert_eq!(field(&parts, "response_format").text(), "b64_json");
    assert_eq!(field(&parts, "size").text(), "256x256");
    assert_eq!(field(&parts, "image").body, photo.to_vec());
}

#[tokio::test]
async fn a_variation_sends_the_image_and_its_parameters_as_multipart() {
    let server = MockServer::start().await;
    answer(&server, "variations", images_answer(&[4, 5], None)).await;
    let photo = image(OutputFormat::Png, 64, false, 9);
    let job = variation(VariationParams {
        n: Some(2),
        size: Some("512x512".into()),
        user: Some("user-9".into()),
        image: Some(upload("image", "cat.png", photo.clone())),
        ..VariationParams::default()
    });

    let response = provider(&server)
        .run(&job)
        .await
        .expect("the variation succeeds");

    assert_eq!(response.images.len(), 2);
    assert_eq!(response.images[1].bytes, png(5));
    let request = only_request(&server).await;
    assert!(find(&request.body, &photo, 0).is_some());
    let parts = parts(&request);
    assert_eq!(
        names(&parts),
        ["model", "n", "size", "response_format", "user", "image"]
    );
    assert_eq!(field(&parts, "model").text(), "dall-e-2");
    assert_eq!(field(&parts, "n").text(), "2");
    assert_eq!(field(&parts, "size").text(), "512x512");
    assert_eq!(field(&parts, "response_format").text(), "b64_json");
    assert_eq!(field(&parts, "user").text(), "user-9");
    let sent = field(&parts, "image");
    assert_eq!(sent.body, photo.to_vec());
    assert_eq!(sent.filename.as_deref(), Some("cat.png"));
    assert_eq!(sent.content_type.as_deref(), Some("image/png"));
}
