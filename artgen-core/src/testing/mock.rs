//! A scriptable mock provider that draws real, decodable images.

use std::collections::VecDeque;
use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use image::{ImageFormat, Rgba, RgbaImage};

use crate::domain::{Background, Dimensions, GenerateRequest, OutputFormat, SizeSpec, TokenUsage};
use crate::error::{Error, ErrorCode, Result};
use crate::ports::{ImageProvider, ProviderImage, ProviderResponse};

/// What the mock does on one call.
#[derive(Debug)]
pub enum MockStep {
    /// Succeed at once.
    Succeed,
    /// Wait, then succeed.
    Delay(Duration),
    /// Fail with this error.
    Fail(Error),
}

impl MockStep {
    /// A 429 from the upstream, with its `Retry-After`.
    pub fn rate_limited(retry_after: Duration) -> Self {
        Self::Fail(
            Error::new(
                ErrorCode::UpstreamRateLimited,
                "the upstream rate limit was reached",
            )
            .retryable(true)
            .with_retry_after(retry_after),
        )
    }

    /// A 5xx from the upstream.
    pub fn server_error() -> Self {
        Self::Fail(Error::new(ErrorCode::UpstreamError, "the upstream failed").retryable(true))
    }

    /// A moderation block with the upstream's reason.
    pub fn moderation(reason: &str) -> Self {
        Self::Fail(Error::new(ErrorCode::ContentPolicyViolation, reason))
    }
}

/// A call the mock received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockCall {
    /// Model id.
    pub model: String,
    /// Prompt.
    pub prompt: String,
    /// Images asked for.
    pub n: u8,
    /// Size asked for.
    pub size: String,
}

/// The mock provider: scripted steps are consumed one per call; when the script is empty it
/// succeeds after the default latency. Images are real PNG/JPEG/WebP files of the requested
/// size (1024x1024 for `auto`), transparent outside a central disc when a transparent
/// background is asked for. GPT image models report token usage like the upstream does.
#[derive(Debug, Default)]
pub struct MockProvider {
    script: Mutex<VecDeque<MockStep>>,
    latency: Duration,
    calls: AtomicU64,
    log: Mutex<Vec<MockCall>>,
}

impl MockProvider {
    /// A mock that succeeds at once.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the latency of unscripted calls.
    #[must_use]
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Appends a step to the script.
    pub fn push(&self, step: MockStep) {
        lock(&self.script).push_back(step);
    }

    /// Calls received so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// The calls received so far, oldest first.
    pub fn received(&self) -> Vec<MockCall> {
        lock(&self.log).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[async_trait]
impl ImageProvider for MockProvider {
    fn name(&self) -> &str {
        "mock"
    }

    async fn generate(&self, request: &GenerateRequest) -> Result<ProviderResponse> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        lock(&self.log).push(MockCall {
            model: request.model().id.clone(),
            prompt: request.prompt().as_str().to_owned(),
            n: request.n().get(),
            size: request.size().to_string(),
        });
        let step = lock(&self.script).pop_front();
        match step {
            Some(MockStep::Fail(err)) => return Err(err),
            Some(MockStep::Delay(d)) => tokio::time::sleep(d).await,
            Some(MockStep::Succeed) => {}
            None if !self.latency.is_zero() => tokio::time::sleep(self.latency).await,
            None => {}
        }
        respond(request)
    }
}

fn respond(request: &GenerateRequest) -> Result<ProviderResponse> {
    let dims = match request.size() {
        SizeSpec::Exact(d) => d,
        SizeSpec::Auto => Dimensions::new(1024, 1024),
    };
    let transparent = request.background() == Some(Background::Transparent);
    let images = (0..request.n().get())
        .map(|i| {
            let bytes = render(dims, request.effective_format(), transparent, i)?;
            Ok(ProviderImage {
                bytes,
                revised_prompt: request
                    .model()
                    .revises_prompt
                    .then(|| format!("{} (as drawn by the mock)", request.prompt().as_str())),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let usage = request.model().reports_usage.then(|| {
        let (estimate, _) = request.model().pricing.estimate(
            request.price_key(),
            request.n().get(),
            request.prompt().as_str(),
        );
        estimate.unwrap_or(TokenUsage::default())
    });
    Ok(ProviderResponse {
        images,
        usage,
        provider: "mock".into(),
    })
}

/// Draws a gradient image of the given size and encodes it. With `transparent`, pixels
/// outside a central disc have alpha 0.
///
/// # Errors
/// `internal_error` if encoding fails.
pub fn render(
    dims: Dimensions,
    format: OutputFormat,
    transparent: bool,
    seed: u8,
) -> Result<Bytes> {
    let (w, h) = (dims.width, dims.height);
    let (cx, cy) = (f64::from(w) / 2.0, f64::from(h) / 2.0);
    let radius = cx.min(cy) * 0.8;
    let shade = |v: u32, max: u32| u8::try_from(v * 255 / max.max(1)).unwrap_or(u8::MAX);
    let img = RgbaImage::from_fn(w, h, |x, y| {
        let inside = (f64::from(x) - cx).hypot(f64::from(y) - cy) <= radius;
        let alpha = if transparent && !inside { 0 } else { 255 };
        Rgba([
            shade(x, w),
            shade(y, h),
            seed.wrapping_mul(40).wrapping_add(90),
            alpha,
        ])
    });
    let mut out = Cursor::new(Vec::new());
    let encoded = match format {
        OutputFormat::Png => img.write_to(&mut out, ImageFormat::Png),
        OutputFormat::Webp => img.write_to(&mut out, ImageFormat::WebP),
        OutputFormat::Jpeg => image::DynamicImage::ImageRgba8(img)
            .to_rgb8()
            .write_to(&mut out, ImageFormat::Jpeg),
    };
    encoded.map_err(Error::internal)?;
    Ok(Bytes::from(out.into_inner()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_decodable_images_of_the_requested_size_in_every_format() {
        for format in OutputFormat::ALL {
            let bytes = render(Dimensions::new(64, 48), *format, false, 0).expect("encodes");
            let image = image::load_from_memory(&bytes).expect("decodes");
            assert_eq!((image.width(), image.height()), (64, 48), "{format}");
            assert_eq!(OutputFormat::sniff(&bytes), Some(*format));
        }
    }

    #[test]
    fn transparent_backgrounds_are_transparent_outside_the_subject() {
        let bytes = render(Dimensions::new(64, 64), OutputFormat::Png, true, 0).expect("encodes");
        let image = image::load_from_memory(&bytes).expect("decodes").to_rgba8();
        assert_eq!(image.get_pixel(0, 0)[3], 0, "corner is transparent");
        assert_eq!(image.get_pixel(32, 32)[3], 255, "centre is opaque");
    }
}
