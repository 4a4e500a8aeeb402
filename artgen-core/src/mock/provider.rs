//! A scriptable mock provider that draws real, decodable images.

use std::collections::VecDeque;
use std::future::Future as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use image::RgbaImage;

use super::draw::{draw, encode, seed_for};
use crate::domain::{
    Background, Dimensions, EditRequest, ImageJob, ModelFamily, Operation, OutputFormat, Quality,
    SizeSpec, TokenUsage,
};
use crate::error::{Error, ErrorCode, Result};
use crate::ports::{
    ImageEventStream, ImageProvider, ProviderImage, ProviderResponse, ResponseEcho, StreamEvent,
};

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

    /// A moderation block with the upstream's reason: `moderation_blocked` for GPT image
    /// models, `content_policy_violation` for DALL·E, as the upstream answers.
    pub fn moderation(reason: &str) -> Self {
        Self::Fail(Error::new(ErrorCode::ModerationBlocked, reason))
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
    /// The operation.
    pub operation: Operation,
    /// The input images of an edit, or the image of a variation, as received (empty for a
    /// generation).
    pub inputs: Vec<Bytes>,
}

/// The mock provider: scripted steps are consumed one per call; when the script is empty it
/// succeeds after the default latency. Images are real PNG/JPEG/WebP/GIF/SVG files of the
/// requested size (1024x1024 for `auto`), drawn from the prompt (the same prompt, the same
/// picture) and stamped "MOCK"; transparent outside the subject when a transparent
/// background is asked for. GPT image models report token usage and echo their options like
/// the upstream does.
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

impl MockProvider {
    /// Records the call and plays the next scripted step.
    async fn play(&self, job: &ImageJob) -> Result<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        lock(&self.log).push(MockCall {
            model: job.model().id.clone(),
            prompt: job.prompt().to_owned(),
            n: job.n().get(),
            size: job.size().to_string(),
            operation: job.operation(),
            inputs: match job {
                ImageJob::Generate(_) => Vec::new(),
                ImageJob::Edit(edit) => edit.images().iter().map(|i| i.bytes().clone()).collect(),
                ImageJob::Variation(variation) => vec![variation.image().bytes().clone()],
            },
        });
        let step = lock(&self.script).pop_front();
        match step {
            Some(MockStep::Fail(err))
                if err.code() == ErrorCode::ModerationBlocked
                    && job.model().family != ModelFamily::GptImage =>
            {
                return Err(Error::new(ErrorCode::ContentPolicyViolation, err.message()))
            }
            Some(MockStep::Fail(err)) => return Err(err),
            Some(MockStep::Delay(d)) => tokio::time::sleep(d).await,
            Some(MockStep::Succeed) => {}
            None if !self.latency.is_zero() => tokio::time::sleep(self.latency).await,
            None => {}
        }
        Ok(())
    }
}

#[async_trait]
impl ImageProvider for MockProvider {
    fn name(&self) -> &str {
        "mock"
    }

    async fn run(&self, job: &ImageJob) -> Result<ProviderResponse> {
        self.play(job).await?;
        respond(job)
    }

    async fn stream(&self, job: &ImageJob) -> Result<ImageEventStream> {
        self.play(job).await?;
        let response = respond(job)?;
        let dims = output_dimensions(job);
        let mut events = VecDeque::new();
        for index in 0..job.partial_images() {
            let seed = seed_for(job.prompt(), 1000 + u64::from(index));
            let preview = draw(dims, job.effective_format(), false, seed, 1, 200)?;
            events.push_back(Ok(StreamEvent::Partial {
                index: u32::from(index),
                image: preview,
            }));
        }
        let count = response.images.len() as u64;
        for (i, image) in response.images.into_iter().enumerate() {
            // The upstream reports usage per completed image; split the total evenly.
            let usage = response.usage.map(|u| per_image(&u, count, i as u64));
            events.push_back(Ok(StreamEvent::Completed {
                image: image.bytes,
                usage,
            }));
        }
        Ok(ImageEventStream::new(ScriptedStream {
            events,
            pause: self.latency / 4,
            sleep: None,
        }))
    }
}

fn per_image(total: &TokenUsage, count: u64, index: u64) -> TokenUsage {
    let share = |v: u64| v / count + u64::from(index < v % count);
    TokenUsage {
        input_text_tokens: share(total.input_text_tokens),
        input_image_tokens: share(total.input_image_tokens),
        output_image_tokens: share(total.output_image_tokens),
        output_text_tokens: share(total.output_text_tokens),
        svg_input_tokens: share(total.svg_input_tokens),
        svg_output_tokens: share(total.svg_output_tokens),
    }
}

/// A stream of prepared events with an optional pause before each.
struct ScriptedStream {
    events: VecDeque<Result<StreamEvent>>,
    pause: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl futures_core::Stream for ScriptedStream {
    type Item = Result<StreamEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.events.is_empty() {
            return Poll::Ready(None);
        }
        if !self.pause.is_zero() {
            let pause = self.pause;
            let sleep = self
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(pause)));
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.sleep = None;
        }
        Poll::Ready(self.events.pop_front())
    }
}

fn output_dimensions(job: &ImageJob) -> Dimensions {
    match (job.size(), job) {
        (SizeSpec::Exact(d), _) => d,
        (SizeSpec::Auto, ImageJob::Edit(edit)) => edit
            .images()
            .first()
            .map_or(Dimensions::new(1024, 1024), |i| i.dimensions()),
        (SizeSpec::Auto, _) => Dimensions::new(1024, 1024),
    }
}

fn respond(job: &ImageJob) -> Result<ProviderResponse> {
    let dims = output_dimensions(job);
    let transparent = job.background() == Some(Background::Transparent);
    let format = job.effective_format();
    let options = job.options();
    let gif = job.model().gif;
    let frames = options
        .frame_count()
        .or(gif.map(|g| g.default_frames))
        .unwrap_or(1);
    let frame_ms = options
        .frame_duration_ms()
        .or(gif.map(|g| g.default_frame_duration_ms))
        .unwrap_or(200);
    let images = (0..job.n().get())
        .map(|i| {
            let seed = seed_for(job.prompt(), u64::from(i));
            let bytes = match job {
                ImageJob::Edit(edit) if format.is_raster() && format != OutputFormat::Gif => {
                    edit_image(edit, dims, format, seed)?
                }
                _ => draw(dims, format, transparent, seed, frames, frame_ms)?,
            };
            Ok(ProviderImage {
                bytes,
                revised_prompt: job
                    .model()
                    .revises_prompt
                    .then(|| format!("{} (as drawn by the mock)", job.prompt())),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut usage = job
        .model()
        .reports_usage
        .then(|| job.estimate().0.unwrap_or_default());
    let mut response = ProviderResponse::new(images, None, "mock");
    if job.model().family == ModelFamily::GptImage {
        let quality = match job.effective_quality() {
            Quality::Auto => Quality::Medium,
            q => q,
        };
        response.echo = ResponseEcho {
            background: Some(if transparent { "transparent" } else { "opaque" }.into()),
            quality: Some(quality.to_string()),
            size: Some(dims.to_string()),
            output_format: Some(format.to_string()),
        };
        if format == OutputFormat::Svg {
            if let Some(usage) = usage.as_mut() {
                usage.svg_input_tokens = usage.input_text_tokens;
                usage.svg_output_tokens = 400;
            }
            let svg_usage = usage.unwrap_or_default();
            response.extra.insert(
                "svg_usage".into(),
                serde_json::json!({
                    "model": "mock-svg",
                    "input_tokens": svg_usage.svg_input_tokens,
                    "output_tokens": svg_usage.svg_output_tokens,
                    "reasoning_tokens": 0,
                    "total_tokens": svg_usage.svg_tokens(),
                }),
            );
        }
    }
    if let Some(id) = job.safety_identifier() {
        // The upstream echoes the effective end-user id.
        response
            .extra
            .insert("safety_identifier".into(), serde_json::json!(id));
    }
    response.usage = usage;
    Ok(response)
}

/// The mock's edit: where the mask is transparent the pixels are replaced by the generated
/// pattern; where it is opaque the original pixels are kept. Without a mask, everything is
/// replaced.
fn edit_image(
    edit: &EditRequest,
    dims: Dimensions,
    format: OutputFormat,
    seed: u64,
) -> Result<Bytes> {
    let pattern = image::load_from_memory(&draw(dims, OutputFormat::Png, false, seed, 1, 200)?)
        .map_err(Error::internal)?
        .to_rgba8();
    let Some(first) = edit.images().first() else {
        return draw(dims, format, false, seed, 1, 200);
    };
    let original = resized(first.bytes(), dims)?;
    let mut out = original.clone();
    if let Some(mask) = edit.mask() {
        let mask = resized(mask.bytes(), dims)?;
        for (x, y, pixel) in out.enumerate_pixels_mut() {
            if mask.get_pixel(x, y)[3] == 0 {
                *pixel = *pattern.get_pixel(x, y);
            }
        }
    } else {
        out = pattern;
    }
    encode(out, format)
}

fn resized(bytes: &[u8], dims: Dimensions) -> Result<RgbaImage> {
    let image = image::load_from_memory(bytes)
        .map_err(Error::internal)?
        .to_rgba8();
    if image.dimensions() == (dims.width, dims.height) {
        Ok(image)
    } else {
        Ok(image::imageops::resize(
            &image,
            dims.width,
            dims.height,
            image::imageops::FilterType::Nearest,
        ))
    }
}
