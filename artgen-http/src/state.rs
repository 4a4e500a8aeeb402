//! Shared state of the router.

use artgen_core::decorators::concurrency::Gates;
use std::sync::Arc;
use std::time::Duration;

use artgen_core::service::Admin;
use artgen_core::ArtGen;

use crate::metrics::Metrics;
use crate::middleware::{BodyReadTimeout, IdempotencyLayerState, UploadSlots};
use crate::signing::UrlSigner;

/// Settings of the HTTP surface.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Base of the URLs handed out for images, e.g. `https://art.example.com`; `None`: the
    /// request's own `Host` (and `X-Forwarded-Proto`).
    pub public_url: Option<String>,
    /// How long a signed image link stays valid.
    pub signed_url_ttl: Duration,
    /// Whether `/metrics` is served without credentials.
    pub metrics_public: bool,
    /// Largest JSON request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Largest multipart upload (edits, variations), in bytes.
    pub max_upload_bytes: usize,
    /// Uploads read at the same time (each is buffered up to `max_upload_bytes`).
    pub max_concurrent_uploads: usize,
    /// Of those, how many one user may hold; their further uploads wait for their own.
    pub max_uploads_per_user: usize,
    /// How fast a request body must arrive (`None`: no deadline).
    pub body_read_timeout: Option<BodyReadTimeout>,
    /// `GET /images/{id}` answers with a redirect to the image store's own signed link, valid
    /// this long, when the store signs links (S3); `None`: ArtGen streams the bytes itself.
    pub image_redirect: Option<Duration>,
    /// How the access log shows prompts.
    pub prompt_logging: crate::retention::PromptLogging,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            public_url: None,
            signed_url_ttl: Duration::from_secs(3600),
            metrics_public: false,
            max_body_bytes: 1024 * 1024,
            max_upload_bytes: 64 * 1024 * 1024,
            max_concurrent_uploads: 16,
            max_uploads_per_user: 4,
            body_read_timeout: Some(BodyReadTimeout::default()),
            image_redirect: None,
            prompt_logging: crate::retention::PromptLogging::default(),
        }
    }
}

/// What `/health` reports about the provider.
#[derive(Debug, Clone)]
pub struct ProviderInfo {
    /// Provider name.
    pub name: String,
    /// Whether it is the mock (no real images, no real cost).
    pub mock: bool,
    /// The admission gates of each upstream, by upstream name, for `/health`.
    pub admission: Vec<(String, Gates)>,
}

/// What `/health` reports about storage: the backend, and how many usage writes wait in its
/// spool because the database refuses or cannot be reached.
#[derive(Clone)]
pub struct StorageInfo {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// Reads the number of usage writes kept aside now.
    pub buffered_writes: Arc<dyn Fn() -> usize + Send + Sync>,
}

impl std::fmt::Debug for StorageInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageInfo")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// Everything a handler needs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    service: ArtGen,
    metrics: Arc<Metrics>,
    signer: UrlSigner,
    config: HttpConfig,
    provider: ProviderInfo,
    idempotency: IdempotencyLayerState,
    uploads: UploadSlots,
    storage: Option<StorageInfo>,
    admin: Option<Admin>,
    sso: Option<Arc<crate::oidc::SsoClient>>,
}

impl AppState {
    /// Assembles the state.
    pub fn new(
        service: ArtGen,
        metrics: Arc<Metrics>,
        signer: UrlSigner,
        config: HttpConfig,
        provider: ProviderInfo,
        idempotency: IdempotencyLayerState,
    ) -> Self {
        let uploads = UploadSlots::new(config.max_concurrent_uploads, config.max_uploads_per_user);
        Self(Arc::new(Inner {
            service,
            metrics,
            signer,
            config,
            provider,
            idempotency,
            uploads,
            storage: None,
            admin: None,
            sso: None,
        }))
    }

    /// Adds what `/health` reports about storage (call before the state is cloned; later
    /// calls on a shared state change nothing).
    #[must_use]
    pub fn with_storage(mut self, storage: StorageInfo) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.0) {
            inner.storage = Some(storage);
        }
        self
    }

    /// Adds the admin service the `/admin` routes use (call before the state is cloned;
    /// later calls on a shared state change nothing). Without it those routes answer 404.
    #[must_use]
    pub fn with_admin(mut self, admin: Admin) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.0) {
            inner.admin = Some(admin);
        }
        self
    }

    /// Adds the web UI's OIDC client, which turns on "Sign in with SSO" (call before the
    /// state is cloned; later calls on a shared state change nothing).
    #[must_use]
    pub fn with_sso(mut self, sso: Arc<crate::oidc::SsoClient>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.0) {
            inner.sso = Some(sso);
        }
        self
    }

    /// The web UI's OIDC client, when SSO is configured.
    pub fn sso(&self) -> Option<&Arc<crate::oidc::SsoClient>> {
        self.0.sso.as_ref()
    }

    /// The admin service, when the composition root gave one.
    pub fn admin(&self) -> Option<&Admin> {
        self.0.admin.as_ref()
    }

    /// Storage facts for `/health`, when the composition root gave them.
    pub fn storage(&self) -> Option<&StorageInfo> {
        self.0.storage.as_ref()
    }

    /// The upload slots (shared by every upload route).
    pub fn uploads(&self) -> &UploadSlots {
        &self.0.uploads
    }

    /// The idempotency layer's state (one per application, so waiters share wake-ups).
    pub fn idempotency(&self) -> &IdempotencyLayerState {
        &self.0.idempotency
    }

    /// The service.
    pub fn service(&self) -> &ArtGen {
        &self.0.service
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    /// The link signer.
    pub fn signer(&self) -> &UrlSigner {
        &self.0.signer
    }

    /// HTTP settings.
    pub fn config(&self) -> &HttpConfig {
        &self.0.config
    }

    /// Provider facts for `/health`.
    pub fn provider(&self) -> &ProviderInfo {
        &self.0.provider
    }
}
