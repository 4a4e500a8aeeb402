//! In-process wake-ups: a duplicate waiting on a claim held in the same process is woken the
//! moment the claim ends, instead of at its next poll (polling still covers other replicas).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

/// A claim's identity: `(user, key)`.
pub(super) type ClaimId = (String, String);

/// One [`Notify`] per claim that has waiters.
#[derive(Debug, Default)]
pub(super) struct Waiters(Mutex<HashMap<ClaimId, Arc<Notify>>>);

impl Waiters {
    fn lock(&self) -> MutexGuard<'_, HashMap<ClaimId, Arc<Notify>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers interest in `id`; hold the subscription while waiting.
    pub(super) fn subscribe<'a>(&'a self, id: &'a ClaimId) -> Subscription<'a> {
        let notify = Arc::clone(self.lock().entry(id.clone()).or_default());
        Subscription {
            waiters: self,
            id,
            notify: Some(notify),
        }
    }

    /// Wakes everyone waiting on `id` (the claim was completed or abandoned).
    pub(super) fn wake(&self, id: &ClaimId) {
        let notify = self.lock().remove(id);
        if let Some(notify) = notify {
            notify.notify_waiters();
        }
    }

    /// How many claims have waiters (tests: the map must not leak).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// Interest in one claim; dropping it removes the entry when nobody else waits.
#[derive(Debug)]
pub(super) struct Subscription<'a> {
    waiters: &'a Waiters,
    id: &'a ClaimId,
    notify: Option<Arc<Notify>>,
}

impl Subscription<'_> {
    /// The notifier to wait on (create and `enable` the `Notified` before checking the store,
    /// so a wake-up between the check and the wait is not lost).
    pub(super) fn notify(&self) -> &Notify {
        self.notify.as_deref().expect("taken only when dropped")
    }
}

impl Drop for Subscription<'_> {
    fn drop(&mut self) {
        let mut map = self.waiters.lock();
        // Clones are made and dropped only under the lock, so after dropping ours a count of
        // one means only the map holds the entry.
        drop(self.notify.take());
        if map.get(self.id).is_some_and(|n| Arc::strong_count(n) == 1) {
            map.remove(self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_wake_reaches_an_enabled_waiter_and_entries_are_cleaned_up() {
        let waiters = Arc::new(Waiters::default());
        let id = ("ann".to_owned(), "k".to_owned());
        let subscription = waiters.subscribe(&id);
        {
            let notified = subscription.notify().notified();
            tokio::pin!(notified);
            notified.as_mut().enable();

            waiters.wake(&id);

            tokio::time::timeout(Duration::from_secs(1), notified)
                .await
                .expect("the waiter is woken");
        }
        drop(subscription);
        assert_eq!(waiters.len(), 0);
    }

    #[test]
    fn the_last_subscription_removes_the_entry() {
        let waiters = Waiters::default();
        let id = ("ann".to_owned(), "k".to_owned());
        let first = waiters.subscribe(&id);
        let second = waiters.subscribe(&id);

        drop(first);
        assert_eq!(waiters.len(), 1);
        drop(second);
        assert_eq!(waiters.len(), 0);
    }
}
