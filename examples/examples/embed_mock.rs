//! Embeds ArtGen in a program: an [`ArtGen`] service over the mock provider and in-memory fakes
//! of every other port, generating once with `dall-e-2` (billed per image) and once with
//! `gpt-image-1` (billed by tokens), printing each image's size and encoding, the settled cost
//! and the token usage the provider reported.
//!
//! Swap `MockProvider` for the OpenAI adapter and the fakes for real stores to go live; nothing
//! else changes.
//!
//! Run with: cargo run -p artgen-examples --example embed_mock
#![expect(clippy::print_stdout, reason = "examples print their results")]

use std::sync::Arc;

use artgen_core::domain::{Catalog, GenerateParams, Quality};
use artgen_core::testing::MockProvider;
use artgen_core::{ArtGen, Generation, Ports};

#[tokio::main(flavor = "current_thread")]
async fn main() -> artgen_core::Result<()> {
    let service = ArtGen::new(
        Catalog::default(),
        Ports::in_memory(Arc::new(MockProvider::new())),
    );
    let requests = [
        GenerateParams {
            model: "dall-e-2".into(),
            prompt: "a castle on a cliff at dawn".into(),
            n: Some(2),
            size: Some("512x512".into()),
            ..Default::default()
        },
        GenerateParams {
            model: "gpt-image-1".into(),
            prompt: "a castle on a cliff at dawn, watercolour".into(),
            size: Some("1024x1024".into()),
            quality: Some(Quality::Medium),
            ..Default::default()
        },
    ];

    for params in requests {
        // One context per request: each gets its own request id (and usage row).
        let ctx = artgen_examples::context("lisa");
        let generation = service.generate(&ctx, params).await?;
        print_generation(&generation);
    }
    Ok(())
}

fn print_generation(generation: &Generation) {
    println!(
        "{} via {} (request {})",
        generation.model, generation.provider, generation.request_id
    );
    for image in &generation.images {
        println!(
            "  image {}: {} {}, {} bytes",
            image.id,
            image.dimensions,
            image.format,
            image.bytes.len()
        );
    }
    println!("  cost:  {}", generation.cost);
    match &generation.usage {
        Some(usage) => println!(
            "  usage: {} input tokens (text {}, image {}), {} output tokens, {} in total",
            usage.input_tokens(),
            usage.input_text_tokens,
            usage.input_image_tokens,
            usage.output_tokens(),
            usage.total_tokens()
        ),
        None => println!("  usage: not reported (billed per image)"),
    }
    println!();
}
