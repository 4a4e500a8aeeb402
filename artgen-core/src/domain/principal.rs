//! Who is calling.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::budget::BudgetLimits;

/// A role; admins may see everyone's usage and manage keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// An ordinary user.
    User,
    /// An administrator.
    Admin,
}

impl Role {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Limits that apply to one principal instead of the server's defaults (`None`: the default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PrincipalLimits {
    /// Requests (units) per minute.
    pub rate_per_minute: Option<u32>,
    /// Units at once.
    pub rate_burst: Option<u32>,
    /// The user's own budget per calendar month (money and tokens); an unset dimension
    /// falls back to the server's default.
    pub budget: BudgetLimits,
}

impl PrincipalLimits {
    /// Sets the sustained rate.
    #[must_use]
    pub fn with_rate_per_minute(mut self, per_minute: u32) -> Self {
        self.rate_per_minute = Some(per_minute);
        self
    }

    /// Sets the burst.
    #[must_use]
    pub fn with_rate_burst(mut self, burst: u32) -> Self {
        self.rate_burst = Some(burst);
        self
    }

    /// Sets the user's own monthly budget.
    #[must_use]
    pub fn with_budget(mut self, budget: BudgetLimits) -> Self {
        self.budget = budget;
        self
    }
}

/// An authenticated caller. Built with [`Principal::new`] and the `with_*` setters, so that
/// fields can be added without breaking adapters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Principal {
    /// The user's id (stable, used for limits, usage and image ownership).
    pub user: String,
    /// The user's organisation, where the credential names one.
    pub org: Option<String>,
    /// The user's role.
    pub role: Role,
    /// The public id of the credential used (e.g. an API key's prefix), for audit logs.
    pub credential_id: Option<String>,
    /// Limits of this principal that replace the server's defaults.
    pub limits: PrincipalLimits,
    /// The organisation's own monthly budget (shared by its members), where one is set; an
    /// unset dimension falls back to the server's default for organisations.
    pub org_budget: BudgetLimits,
}

impl Principal {
    /// A principal with no organisation, credential id or own limits.
    pub fn new(user: impl Into<String>, role: Role) -> Self {
        Self {
            user: user.into(),
            org: None,
            role,
            credential_id: None,
            limits: PrincipalLimits::default(),
            org_budget: BudgetLimits::default(),
        }
    }

    /// Names the organisation.
    #[must_use]
    pub fn with_org(mut self, org: impl Into<String>) -> Self {
        self.org = Some(org.into());
        self
    }

    /// Names the credential used.
    #[must_use]
    pub fn with_credential_id(mut self, id: impl Into<String>) -> Self {
        self.credential_id = Some(id.into());
        self
    }

    /// Sets the principal's own limits.
    #[must_use]
    pub fn with_limits(mut self, limits: PrincipalLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the organisation's own monthly budget.
    #[must_use]
    pub fn with_org_budget(mut self, budget: BudgetLimits) -> Self {
        self.org_budget = budget;
        self
    }

    /// Whether the caller is an admin.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}
