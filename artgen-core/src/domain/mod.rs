//! Domain types: models, requests, pricing, identities and usage.

pub mod api_key;
pub mod budget;
pub mod edit;
pub mod ids;
pub mod job;
pub mod model;
pub mod options;
pub mod pricing;
pub mod principal;
pub mod request;
pub mod upload;
pub mod usage;
pub mod usage_summary;
pub mod user;

pub use api_key::{ApiKey, KeyEnv};
pub use budget::{
    BudgetCalendar, BudgetCheck, BudgetDimension, BudgetLimits, BudgetPeriod, BudgetPolicy,
    BudgetRefusal, BudgetScope, BudgetStatus, BudgetView, Reservation, ReserveOutcome, Spend,
    UtcMonths,
};
pub use edit::{EditParams, EditRequest, InputFidelity, VariationParams, VariationRequest};
pub use ids::{ImageId, RequestId};
pub use job::{ImageJob, JobParams};
pub use model::{
    Catalog, CatalogConfig, CatalogPolicy, CatalogSource, Date, LifecycleState, ModelFamily,
    ModelSpec, RetiredModels, SizeRule, UnknownParams, UnpricedModels,
};
pub use options::{
    Background, Complexity, Dimensions, Moderation, OutputFormat, Quality, ResponseFormat,
    SizeSpec, Style,
};
pub use pricing::{Money, PriceKey, Pricing, TokenUsage};
pub use principal::{Principal, PrincipalLimits, Role};
pub use request::{GenerateParams, GenerateRequest, ImageCount, Prompt};
pub use upload::UploadedImage;
pub use usage::{Operation, UsageCursor, UsagePage, UsageQuery, UsageRecord, UsageStatus};
pub use usage_summary::{UsageGroupBy, UsageSummary, UsageSummaryQuery};
pub use user::{LimitsPatch, OrgRecord, UserLimits, UserRecord};
