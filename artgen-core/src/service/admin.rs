//! The admin service: users, organisations and keys managed by admins, every change written
//! to the audit trail and logged as one `admin_action` line.
//!
//! The HTTP admin routes and the command line both go through it, so each action is checked,
//! audited and logged the same way. Reads are not audited.

use std::sync::Arc;

use serde_json::json;

use crate::domain::{ApiKey, KeyEnv, LimitsPatch, OrgRecord, Principal, Role, UserRecord};
use crate::error::{Error, ErrorCode, Result};
use crate::ports::{AuditEntry, AuditLog, AuditQuery, Clock, KeyInfo, KeyStore, UserStore};

/// Longest user, organisation or key id an admin may name, in characters.
pub const MAX_ID_CHARS: usize = 256;

/// Most audit entries one listing returns.
pub const AUDIT_LIMIT_MAX: u32 = 1000;

/// Who performs an admin action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The acting user's id (`cli` for the command line).
    pub user: String,
    /// The public id of the credential used, when there is one.
    pub credential_id: Option<String>,
}

impl Actor {
    /// The admin behind `principal`.
    ///
    /// # Errors
    /// `forbidden` when the principal is not an admin.
    pub fn admin(principal: &Principal) -> Result<Self> {
        if !principal.is_admin() {
            return Err(Error::new(
                ErrorCode::Forbidden,
                "this route is for admins only",
            ));
        }
        Ok(Self {
            user: principal.user.clone(),
            credential_id: principal.credential_id.clone(),
        })
    }

    /// The operator at the command line.
    pub fn cli() -> Self {
        Self {
            user: "cli".to_owned(),
            credential_id: None,
        }
    }
}

/// Checks an id an admin names: 1 to [`MAX_ID_CHARS`] characters, no control character.
///
/// # Errors
/// `invalid_value` naming `param`.
pub fn check_id(param: &str, id: &str) -> Result<()> {
    let chars = id.chars().count();
    if chars == 0 || chars > MAX_ID_CHARS || id.chars().any(char::is_control) {
        return Err(Error::invalid_param(
            param,
            format!(
                "{param} must be 1 to {MAX_ID_CHARS} characters, none of them control characters"
            ),
        ));
    }
    Ok(())
}

/// Users, organisations, keys and the audit trail, for admins.
#[derive(Clone)]
pub struct Admin {
    users: Arc<dyn UserStore>,
    keys: Arc<dyn KeyStore>,
    audit: Arc<dyn AuditLog>,
    clock: Arc<dyn Clock>,
    on_change: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin").finish_non_exhaustive()
    }
}

impl Admin {
    /// The service over these ports.
    pub fn new(
        users: Arc<dyn UserStore>,
        keys: Arc<dyn KeyStore>,
        audit: Arc<dyn AuditLog>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            users,
            keys,
            audit,
            clock,
            on_change: None,
        }
    }

    /// Calls `hook` after every change to a user, an organisation or a key (the server clears
    /// its credential cache, so the change applies to the next request).
    #[must_use]
    pub fn with_on_change(mut self, hook: Arc<dyn Fn() + Send + Sync>) -> Self {
        self.on_change = Some(hook);
        self
    }

    /// Writes the audit entry and the log line of an action, then runs the change hook.
    async fn record(
        &self,
        actor: &Actor,
        action: &str,
        target: &str,
        detail: serde_json::Value,
    ) -> Result<()> {
        let entry = AuditEntry {
            at_ms: self.clock.now_ms(),
            actor: actor.user.clone(),
            credential_id: actor.credential_id.clone(),
            action: action.to_owned(),
            target: target.to_owned(),
            detail,
        };
        if let Some(hook) = &self.on_change {
            hook();
        }
        self.audit.append(&entry).await?;
        tracing::info!(
            event = "admin_action",
            actor = %entry.actor,
            credential_id = entry.credential_id.as_deref(),
            action = %entry.action,
            // `target` is the JSON log's own field (the module), so the subject is `target_id`.
            target_id = %entry.target,
            "admin_action"
        );
        Ok(())
    }

    /// Creates user `id`'s row (with `org`); an existing row is returned unchanged with
    /// `false` and nothing is audited.
    ///
    /// # Errors
    /// `invalid_value` (param `user` or `org`) for a malformed id; `internal_error` when a
    /// store fails.
    pub async fn create_user(
        &self,
        actor: &Actor,
        id: &str,
        org: Option<&str>,
    ) -> Result<(UserRecord, bool)> {
        check_id("user", id)?;
        if let Some(org) = org {
            check_id("org", org)?;
        }
        let (row, created) = self.users.create_user(id, org).await?;
        if created {
            self.record(actor, "user.created", id, json!({ "org": org }))
                .await?;
        }
        Ok((row, created))
    }

    /// Every user row, by id.
    ///
    /// # Errors
    /// `internal_error` when the store fails.
    pub async fn list_users(&self) -> Result<Vec<UserRecord>> {
        self.users.list_users().await
    }

    /// User `id`'s row.
    ///
    /// # Errors
    /// `not_found` (param `user`) when there is none; `internal_error` when the store fails.
    pub async fn user(&self, id: &str) -> Result<UserRecord> {
        self.users
            .get_user(id)
            .await?
            .ok_or_else(|| Error::new(ErrorCode::NotFound, "no such user").with_param("user"))
    }

    /// Organisation `id`'s row, if it has one.
    ///
    /// # Errors
    /// `internal_error` when the store fails.
    pub async fn org(&self, id: &str) -> Result<Option<OrgRecord>> {
        self.users.get_org(id).await
    }

    /// Changes user `id`'s limits (making the row when missing).
    ///
    /// # Errors
    /// `invalid_value` (param `user`) for a malformed id; `internal_error` when a store fails.
    pub async fn set_user_limits(
        &self,
        actor: &Actor,
        id: &str,
        patch: &LimitsPatch,
    ) -> Result<UserRecord> {
        check_id("user", id)?;
        let row = self.users.set_user_limits(id, patch).await?;
        self.record(
            actor,
            "user.limits.set",
            id,
            json!({ "limits": row.limits }),
        )
        .await?;
        Ok(row)
    }

    /// Disables (or enables again) user `id`: a disabled user's credentials are refused.
    ///
    /// # Errors
    /// `invalid_value` (param `user`) for a malformed id; `internal_error` when a store fails.
    pub async fn set_user_disabled(
        &self,
        actor: &Actor,
        id: &str,
        disabled: bool,
    ) -> Result<UserRecord> {
        check_id("user", id)?;
        let row = self.users.set_user_disabled(id, disabled).await?;
        let action = if disabled {
            "user.disabled"
        } else {
            "user.enabled"
        };
        self.record(actor, action, id, json!({})).await?;
        Ok(row)
    }

    /// Changes organisation `id`'s budgets (making the row when missing).
    ///
    /// # Errors
    /// `invalid_value` (param `org`) for a malformed id; `internal_error` when a store fails.
    pub async fn set_org_limits(
        &self,
        actor: &Actor,
        id: &str,
        patch: &LimitsPatch,
    ) -> Result<OrgRecord> {
        check_id("org", id)?;
        let row = self.users.set_org_limits(id, patch).await?;
        self.record(actor, "org.limits.set", id, json!({ "limits": row.limits }))
            .await?;
        Ok(row)
    }

    /// Issues a key for `user` with `role`; its secret is in the answer only.
    ///
    /// # Errors
    /// `invalid_value` (param `user`) for a malformed id; `internal_error` when a store fails.
    pub async fn create_key(
        &self,
        actor: &Actor,
        user: &str,
        role: Role,
        env: KeyEnv,
    ) -> Result<ApiKey> {
        check_id("user", user)?;
        let key = self.keys.create(user, role, env).await?;
        let detail = json!({ "user": user, "role": role.as_str() });
        self.record(actor, "key.created", key.public_id(), detail)
            .await?;
        Ok(key)
    }

    /// Keys, newest first, optionally only `user`'s; never a secret.
    ///
    /// # Errors
    /// `internal_error` when the store fails.
    pub async fn list_keys(&self, user: Option<&str>) -> Result<Vec<KeyInfo>> {
        self.keys.list(user).await
    }

    /// Revokes the key with this public id.
    ///
    /// # Errors
    /// `not_found` (param `public_id`) when there is no live key with this id;
    /// `internal_error` when a store fails.
    pub async fn revoke_key(&self, actor: &Actor, public_id: &str) -> Result<()> {
        if !self.keys.revoke(public_id).await? {
            return Err(
                Error::new(ErrorCode::NotFound, "no active key has this public id")
                    .with_param("public_id"),
            );
        }
        self.record(actor, "key.revoked", public_id, json!({}))
            .await
    }

    /// Audit entries matching `query`, newest first (at most [`AUDIT_LIMIT_MAX`]).
    ///
    /// # Errors
    /// `internal_error` when the log fails.
    pub async fn audit(&self, mut query: AuditQuery) -> Result<Vec<AuditEntry>> {
        query.limit = query.limit.clamp(1, AUDIT_LIMIT_MAX);
        self.audit.list(&query).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::ports::SystemClock;
    use crate::testing::{InMemoryAuditLog, InMemoryUserStore};

    /// Issues keys named after their user; revokes only `ag_test_live0000`.
    struct Keys;

    #[async_trait::async_trait]
    impl KeyStore for Keys {
        async fn create(&self, _: &str, _: Role, env: KeyEnv) -> Result<ApiKey> {
            ApiKey::assemble(env, "Ab12Cd34efghijABCDEFGHIJ0123456789klmnop")
                .ok_or_else(|| Error::internal("bad body"))
        }
        async fn list(&self, _: Option<&str>) -> Result<Vec<KeyInfo>> {
            Ok(Vec::new())
        }
        async fn revoke(&self, public_id: &str) -> Result<bool> {
            Ok(public_id == "ag_test_live0000")
        }
        async fn touch(&self, _: &str, _: i64) -> Result<()> {
            Ok(())
        }
        async fn count(&self) -> Result<u64> {
            Ok(0)
        }
    }

    fn admin() -> (Admin, Arc<InMemoryAuditLog>, Arc<AtomicUsize>) {
        let audit = Arc::new(InMemoryAuditLog::default());
        let changes = Arc::new(AtomicUsize::new(0));
        let counter = changes.clone();
        let admin = Admin::new(
            Arc::new(InMemoryUserStore::default()),
            Arc::new(Keys),
            audit.clone(),
            Arc::new(SystemClock),
        )
        .with_on_change(Arc::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        }));
        (admin, audit, changes)
    }

    #[test]
    fn only_admins_may_act() {
        let user = Principal::new("lisa", Role::User);
        let boss = Principal::new("boss", Role::Admin).with_credential_id("ag_test_Boss0000");

        let err = Actor::admin(&user).expect_err("not an admin");
        let actor = Actor::admin(&boss).expect("an admin");

        assert_eq!(err.code(), ErrorCode::Forbidden);
        assert_eq!(actor.user, "boss");
        assert_eq!(actor.credential_id.as_deref(), Some("ag_test_Boss0000"));
    }

    #[tokio::test]
    async fn every_change_is_audited_and_announced_but_a_repeat_create_is_not() {
        let (admin, audit, changes) = admin();
        let actor = Actor::cli();

        admin
            .create_user(&actor, "ann", None)
            .await
            .expect("create");
        admin.create_user(&actor, "ann", None).await.expect("again");
        admin
            .set_user_disabled(&actor, "ann", true)
            .await
            .expect("disable");
        let key = admin
            .create_key(&actor, "ann", Role::User, KeyEnv::Test)
            .await
            .expect("key");

        let actions: Vec<String> = audit.entries().into_iter().map(|e| e.action).collect();
        assert_eq!(actions, ["user.created", "user.disabled", "key.created"]);
        assert_eq!(changes.load(Ordering::SeqCst), 3);
        let text = format!("{:?}", audit.entries());
        assert!(!text.contains(key.expose_secret()), "no secret audited");
        assert!(audit.entries().iter().all(|e| e.actor == "cli"));
    }

    #[tokio::test]
    async fn revoking_an_unknown_key_is_not_found_and_not_audited() {
        let (admin, audit, _) = admin();

        let err = admin
            .revoke_key(&Actor::cli(), "ag_test_nosuchid")
            .await
            .expect_err("unknown");
        admin
            .revoke_key(&Actor::cli(), "ag_test_live0000")
            .await
            .expect("revoked");

        assert_eq!(err.code(), ErrorCode::NotFound);
        assert_eq!(err.param(), Some("public_id"));
        assert_eq!(audit.entries().len(), 1);
    }

    #[tokio::test]
    async fn malformed_ids_are_refused_naming_the_param() {
        let (admin, _, _) = admin();
        let long = "x".repeat(MAX_ID_CHARS + 1);

        for (user, org, param) in [
            ("", None, "user"),
            (&*long, None, "user"),
            ("a\nb", None, "user"),
            ("ok", Some(""), "org"),
        ] {
            let err = admin
                .create_user(&Actor::cli(), user, org)
                .await
                .expect_err("malformed");
            assert_eq!(err.param(), Some(param), "{user:?} {org:?}");
        }
    }
}
