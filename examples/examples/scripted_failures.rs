//! Scripts failures into the mock provider and shows how the service reports them:
//!
//! 1. two upstream 5xx errors, absorbed by the [`Retrying`] decorator (short base delay) so the
//!    caller still gets an image, after three upstream calls;
//! 2. a moderation block, surfaced as `content_policy_violation` with the upstream's reason
//!    (never retried);
//! 3. a validation error, refused before the provider is called, naming the offending
//!    parameter with `err.param()`.
//!
//! Run with: cargo run -p artgen-examples --example scripted_failures
#![expect(clippy::print_stdout, reason = "examples print their results")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use artgen_core::decorators::{RetryPolicy, Retrying};
use artgen_core::domain::{Catalog, GenerateParams};
use artgen_core::testing::{MockProvider, MockStep};
use artgen_core::{ArtGen, Error, ErrorCode, Ports};

fn params(prompt: &str, size: &str) -> GenerateParams {
    GenerateParams {
        model: "dall-e-2".into(),
        prompt: prompt.into(),
        size: Some(size.into()),
        ..Default::default()
    }
}

fn print_error(err: &Error) {
    println!("  code:    {}", err.code());
    println!("  message: {}", err.message());
    println!("  param:   {}", err.param().unwrap_or("(none)"));
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> artgen_core::Result<()> {
    let mock = Arc::new(MockProvider::new());
    let policy = RetryPolicy::default()
        .with_max_attempts(3)
        .with_base_delay(Duration::from_millis(20));
    let provider = Retrying::new(mock.clone(), policy);
    let service = ArtGen::new(Catalog::default(), Ports::in_memory(Arc::new(provider)));
    // One context per request, as the HTTP edge builds them: each has its own request id.
    let ctx = || artgen_examples::context("lisa");

    println!("1. two server errors, then success (retried with backoff)");
    mock.push(MockStep::server_error());
    mock.push(MockStep::server_error());
    let started = Instant::now();
    let generation = service
        .generate(&ctx(), params("a lighthouse in a storm", "256x256"))
        .await?;
    println!(
        "  succeeded with {} image(s) of {} after {} upstream calls in {:?}",
        generation.images.len(),
        generation.images[0].dimensions,
        mock.calls(),
        started.elapsed()
    );
    assert_eq!(mock.calls(), 3, "two failures and one success");

    println!("\n2. a moderation block (not retried)");
    mock.push(MockStep::moderation(
        "Your request was rejected as a result of our safety system.",
    ));
    let before = mock.calls();
    let err = service
        .generate(
            &ctx(),
            params("something the safety system refuses", "256x256"),
        )
        .await
        .expect_err("the script blocks this prompt");
    print_error(&err);
    println!("  upstream calls: {}", mock.calls() - before);
    assert_eq!(err.code(), ErrorCode::ContentPolicyViolation);
    assert_eq!(err.code().as_str(), "content_policy_violation");

    println!("\n3. a validation error (the provider is never called)");
    let before = mock.calls();
    let err = service
        .generate(&ctx(), params("a lighthouse", "300x300"))
        .await
        .expect_err("dall-e-2 has no 300x300 size");
    print_error(&err);
    println!("  upstream calls: {}", mock.calls() - before);
    assert_eq!(err.param(), Some("size"));
    Ok(())
}
