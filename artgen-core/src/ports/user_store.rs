//! The port to user and organisation rows: limits and disabling, managed by admins.

use async_trait::async_trait;

use crate::domain::{LimitsPatch, OrgRecord, UserRecord};
use crate::error::Result;

/// Keeps users' and organisations' limits and whether a user is disabled.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates the row of user `id` (limits unset, enabled). Creating one that exists
    /// changes nothing and returns the existing row with `false`; a new one returns `true`.
    ///
    /// # Errors
    /// `internal_error` when the backend fails.
    async fn create_user(&self, id: &str, org: Option<&str>) -> Result<(UserRecord, bool)>;

    /// The row of user `id`, if there is one.
    ///
    /// # Errors
    /// `internal_error` when the backend fails.
    async fn get_user(&self, id: &str) -> Result<Option<UserRecord>>;

    /// Every user row, by id ascending.
    ///
    /// # Errors
    /// `internal_error` when the backend fails.
    async fn list_users(&self) -> Result<Vec<UserRecord>>;

    /// Applies `patch` to user `id`'s limits, creating the row when there is none, and
    /// returns the row as it now is.
    ///
    /// # Errors
    /// `internal_error` when the backend fails.
    async fn set_user_limits(&self, id: &str, patch: &LimitsPatch) -> Result<UserRecord>;

    /// Disables (or enables again) user `id`, creating the row when there is none, and
    /// returns the row as it now is.
    ///
    /// # Errors
    /// `internal_error` when the backend fails.
    async fn set_user_disabled(&self, id: &str, disabled: bool) -> Result<UserRecord>;

    /// The row of organisation `id`, if there is one.
    ///
    /// # Errors
    /// `internal_error` when the backend fails.
    async fn get_org(&self, id: &str) -> Result<Option<OrgRecord>>;

    /// Applies `patch` to organisation `id`'s limits, creating its row when there is none.
    ///
    /// # Errors
    /// `internal_error` when the backend fails.
    async fn set_org_limits(&self, id: &str, patch: &LimitsPatch) -> Result<OrgRecord>;
}
