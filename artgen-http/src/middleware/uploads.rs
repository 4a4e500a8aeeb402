//! Upload slots. Uploads are buffered whole (up to the upload limit each), so only
//! `max_concurrent_uploads` are read at once, and one user holds at most
//! `max_uploads_per_user` of them: a user's further uploads wait for one of their own slots
//! without holding a shared one, so one user's slow uploads cannot block everyone else's.
//!
//! The layer runs inside authentication (anonymous clients never wait for a slot) and takes the
//! caller's rate-limit unit before waiting ([`ArtGen::admit_early`](artgen_core::ArtGen)), so a
//! caller over their limit is answered 429 at once instead of holding a slot.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use artgen_core::{Error, RequestContext};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;
use crate::state::AppState;

/// The upload slots of one application: a shared pool and a per-user share of it.
#[derive(Debug, Clone)]
pub struct UploadSlots(Arc<Slots>);

#[derive(Debug)]
struct Slots {
    shared: Arc<Semaphore>,
    per_user: usize,
    /// One semaphore per user with uploads running or waiting; removed when the last is done.
    users: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl UploadSlots {
    /// `total` slots, at most `per_user` of them for any one user (both at least 1).
    pub fn new(total: usize, per_user: usize) -> Self {
        Self(Arc::new(Slots {
            shared: Arc::new(Semaphore::new(total.max(1))),
            per_user: per_user.max(1),
            users: Mutex::new(HashMap::new()),
        }))
    }

    fn users(&self) -> MutexGuard<'_, HashMap<String, Arc<Semaphore>>> {
        self.0.users.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for one of `user`'s slots, then for a shared one; the slot is released when the
    /// returned guard is dropped.
    pub async fn acquire(&self, user: &str) -> UploadSlot {
        let own = Arc::clone(
            self.users()
                .entry(user.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(self.0.per_user))),
        );
        // The semaphores are never closed, so acquiring only ever waits.
        let own = own.acquire_owned().await.ok();
        let shared = Arc::clone(&self.0.shared).acquire_owned().await.ok();
        UploadSlot {
            slots: self.clone(),
            user: user.to_owned(),
            own,
            _shared: shared,
        }
    }

    /// Shared slots free right now.
    pub fn available(&self) -> usize {
        self.0.shared.available_permits()
    }

    /// Users with uploads running or waiting.
    pub fn users_tracked(&self) -> usize {
        self.users().len()
    }
}

/// A held upload slot.
#[derive(Debug)]
pub struct UploadSlot {
    slots: UploadSlots,
    user: String,
    own: Option<OwnedSemaphorePermit>,
    _shared: Option<OwnedSemaphorePermit>,
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        let mut users = self.slots.users();
        drop(self.own.take());
        // Waiters and holders each keep a clone; only the map's is left when none remain.
        // Clones are only made under this lock, so none can appear after the check.
        if users
            .get(&self.user)
            .is_some_and(|own| Arc::strong_count(own) == 1)
        {
            users.remove(&self.user);
        }
    }
}

/// Middleware for the upload routes: the caller's rate-limit unit, then an upload slot, then
/// the rest (idempotency, which reads the body, and the handler).
pub async fn upload_slot(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(ctx) = request.extensions().get::<RequestContext>().cloned() else {
        let err = Error::internal("the upload slot layer runs outside authentication");
        return ApiError::new(err, None).into_response();
    };
    if let Err(err) = state.service().admit_early(&ctx).await {
        return ApiError::new(err, Some(ctx.request_id)).into_response();
    }
    let _slot = state.uploads().acquire(&ctx.principal.user).await;
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn pending_for_a_while(slot: impl std::future::Future<Output = UploadSlot>) -> bool {
        tokio::time::timeout(Duration::from_millis(50), slot)
            .await
            .is_err()
    }

    #[tokio::test]
    async fn one_user_cannot_take_more_than_their_share() {
        let slots = UploadSlots::new(4, 2);
        let first = slots.acquire("lisa").await;
        let _second = slots.acquire("lisa").await;

        assert!(pending_for_a_while(slots.acquire("lisa")).await);
        let other = slots.acquire("somchai").await;
        assert_eq!(
            slots.available(),
            1,
            "lisa's waiting upload holds no shared slot"
        );

        drop(first);
        let _third = slots.acquire("lisa").await;
        drop(other);
        assert_eq!(slots.users_tracked(), 1, "somchai's entry is gone");
    }

    #[tokio::test]
    async fn the_shared_pool_still_bounds_everyone() {
        let slots = UploadSlots::new(2, 2);
        let _a = slots.acquire("a").await;
        let _b = slots.acquire("b").await;

        assert!(pending_for_a_while(slots.acquire("c")).await);
    }

    #[tokio::test]
    async fn a_released_user_leaves_no_entry_behind() {
        let slots = UploadSlots::new(4, 1);
        for _ in 0..3 {
            drop(slots.acquire("lisa").await);
        }
        assert_eq!(slots.users_tracked(), 0);
        assert_eq!(slots.available(), 4);
    }
}
