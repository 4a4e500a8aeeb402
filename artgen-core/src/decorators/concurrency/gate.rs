//! One model's admission to one upstream: an adaptive limit on calls in flight (additive
//! increase while calls succeed and the limit is used, multiplicative decrease when the
//! upstream throttles), a FIFO queue of waiters, a pause after a 429, and a request budget
//! read from the upstream's `x-ratelimit-*` headers.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::ConcurrencyConfig;

tokio::task_local! {
    /// The dispatch number of the call running on this task, so that a rate-limit reading the
    /// adapter reports during the call is matched with the calls sent after it.
    pub(crate) static DISPATCH: u64;
}

/// How far apart in time two calls may be sent and still reach the upstream in the other
/// order (they travel on different connections).
pub(crate) const REORDER_WINDOW: Duration = Duration::from_secs(1);

/// Where a gate stands, for metrics and `/health`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateReading {
    /// The current limit on calls in flight.
    pub limit: u32,
    /// Calls in flight.
    pub in_flight: u32,
    /// Callers waiting.
    pub queued: u32,
    /// Time left in a pause the upstream asked for (`Duration::ZERO`: not paused).
    pub paused_for: Duration,
    /// Smoothed duration of one upstream call (`None` until one finished).
    pub service_time: Option<Duration>,
}

/// What one upstream call's outcome says about the upstream's capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The call succeeded after `elapsed`.
    Success(Duration),
    /// The upstream refused for its rate limit (429), advising a wait.
    Throttled(Option<Duration>),
    /// Anything else: no signal about capacity.
    Neutral,
}

/// Requests the upstream says are left until `resets_at`. At the reset the whole
/// `x-ratelimit-limit-requests` is available again for about one more window (the longest
/// reset seen), until the next answer says exactly.
#[derive(Debug, Clone, Copy)]
struct Budget {
    remaining: u64,
    resets_at: Instant,
    limit: Option<u64>,
    window: Duration,
}

#[derive(Debug)]
struct Waiter {
    ticket: u64,
    grant: oneshot::Sender<u64>,
}

#[derive(Debug)]
struct State {
    limit: f64,
    in_flight: u32,
    queue: VecDeque<Waiter>,
    next_ticket: u64,
    paused_until: Option<Instant>,
    budget: Option<Budget>,
    service_time: Option<Duration>,
    last_decrease: Option<Instant>,
    /// When each call in flight was sent, by dispatch number.
    in_flight_seqs: BTreeMap<u64, Instant>,
    next_seq: u64,
}

/// The admission gate of one model on one upstream.
#[derive(Debug)]
pub(crate) struct Gate {
    config: ConcurrencyConfig,
    state: Mutex<State>,
}

/// How a caller may proceed.
pub(crate) enum Entry {
    /// A slot is taken: call now, as dispatch number `seq`.
    Admitted(u64),
    /// Queued: wait for the grant (and wake at `wake` to let the gate re-check a pause).
    Queued {
        ticket: u64,
        grant: oneshot::Receiver<u64>,
    },
    /// Turned away: the expected wait (or the queue's size) is beyond the bounds.
    Refused {
        expected_wait: Duration,
        reason: &'static str,
    },
}

impl State {
    /// Whether one more call may be sent now.
    fn can_send(&mut self, now: Instant) -> bool {
        if self.paused_until.is_some_and(|until| until > now) {
            return false;
        }
        self.paused_until = None;
        if let Some(budget) = self.budget.as_mut() {
            if budget.resets_at <= now {
                match budget.limit {
                    Some(limit) if !budget.window.is_zero() => {
                        budget.remaining = limit;
                        budget.resets_at = now + budget.window;
                    }
                    _ => self.budget = None,
                }
            }
        }
        if self.budget.is_some_and(|b| b.remaining == 0) {
            return false;
        }
        f64::from(self.in_flight) < self.limit.floor()
    }

    fn take_slot(&mut self) -> u64 {
        self.in_flight += 1;
        if let Some(budget) = self.budget.as_mut() {
            budget.remaining = budget.remaining.saturating_sub(1);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.in_flight_seqs.insert(seq, Instant::now());
        seq
    }

    /// The next moment the gate may open without a call finishing (a pause or a budget
    /// window ending).
    fn next_change(&self) -> Option<Instant> {
        let budget = self
            .budget
            .filter(|b| b.remaining == 0)
            .map(|b| b.resets_at);
        match (self.paused_until, budget) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// The wait of a caller at `position` (1 = next) in the queue.
    fn expected_wait(&self, position: usize, now: Instant) -> Duration {
        let blocked = self
            .next_change()
            .map_or(Duration::ZERO, |at| at.saturating_duration_since(now));
        let Some(service) = self.service_time else {
            return blocked;
        };
        let slots = self.limit.floor().max(1.0);
        #[expect(
            clippy::cast_precision_loss,
            reason = "queue positions are far below 2^52"
        )]
        let rounds = (position as f64 / slots).ceil();
        blocked + service.mul_f64(rounds)
    }
}

impl Gate {
    pub(crate) fn new(config: ConcurrencyConfig) -> Self {
        let (floor, ceiling) = bounds(&config);
        let limit = f64::from(config.initial_in_flight.clamp(floor, ceiling));
        Self {
            config,
            state: Mutex::new(State {
                limit,
                in_flight: 0,
                queue: VecDeque::new(),
                next_ticket: 0,
                paused_until: None,
                budget: None,
                service_time: None,
                last_decrease: None,
                in_flight_seqs: BTreeMap::new(),
                next_seq: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a slot at once when nobody waits and the gate is open; else queues the caller
    /// (first come, first served) unless its expected wait exceeds `max_wait` or the queue is
    /// full.
    pub(crate) fn enter(&self) -> Entry {
        let now = Instant::now();
        let mut state = self.lock();
        if state.queue.is_empty() && state.can_send(now) {
            return Entry::Admitted(state.take_slot());
        }
        let position = state.queue.len() + 1;
        if state.queue.len() >= self.config.max_queue as usize {
            return Entry::Refused {
                expected_wait: state.expected_wait(position, now),
                reason: "too many requests are waiting for the upstream",
            };
        }
        let expected_wait = state.expected_wait(position, now);
        if expected_wait > self.config.max_wait {
            return Entry::Refused {
                expected_wait,
                reason: "the expected wait for the upstream is longer than a request may wait",
            };
        }
        let (grant, receiver) = oneshot::channel();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.queue.push_back(Waiter { ticket, grant });
        Entry::Queued {
            ticket,
            grant: receiver,
        }
    }

    /// When a queued caller should wake to let the gate re-check, if nothing else wakes it.
    pub(crate) fn next_change(&self) -> Option<Instant> {
        self.lock().next_change()
    }

    /// Grants slots to waiters in order while the gate is open; each grant carries its
    /// dispatch number.
    pub(crate) fn dispatch(&self) {
        let now = Instant::now();
        let mut state = self.lock();
        while !state.queue.is_empty() && state.can_send(now) {
            let Some(waiter) = state.queue.pop_front() else {
                break;
            };
            let seq = state.take_slot();
            if waiter.grant.send(seq).is_err() {
                // The waiter gave up between its last check and now: the slot is free again.
                state.in_flight -= 1;
                state.in_flight_seqs.remove(&seq);
                if let Some(budget) = state.budget.as_mut() {
                    budget.remaining += 1;
                }
            }
        }
    }

    /// A queued caller gave up (timed out or was cancelled): leaves the queue, or hands back
    /// the slot it was granted in the meantime.
    pub(crate) fn leave(&self, ticket: u64, mut grant: oneshot::Receiver<u64>) {
        let mut state = self.lock();
        if let Some(at) = state.queue.iter().position(|w| w.ticket == ticket) {
            state.queue.remove(at);
            return;
        }
        drop(state);
        if let Ok(seq) = grant.try_recv() {
            self.release(seq, Outcome::Neutral);
        }
    }

    /// A call finished: frees its slot, learns from the outcome, and lets waiters in.
    pub(crate) fn release(&self, seq: u64, outcome: Outcome) {
        let now = Instant::now();
        {
            let mut state = self.lock();
            state.in_flight = state.in_flight.saturating_sub(1);
            state.in_flight_seqs.remove(&seq);
            match outcome {
                Outcome::Success(elapsed) => {
                    state.service_time = Some(match state.service_time {
                        None => elapsed,
                        Some(avg) => avg.mul_f64(0.8) + elapsed.mul_f64(0.2),
                    });
                    // Grow only while the limit is what holds calls back.
                    let used = f64::from(state.in_flight + 1) >= state.limit * 0.5;
                    if used || !state.queue.is_empty() {
                        state.limit = (state.limit + 1.0).min(f64::from(bounds(&self.config).1));
                    }
                }
                Outcome::Throttled(retry_after) => {
                    self.decrease(&mut state, now);
                    let pause = retry_after.unwrap_or(self.config.default_pause);
                    let until = now + pause;
                    state.paused_until = Some(state.paused_until.map_or(until, |p| p.max(until)));
                }
                Outcome::Neutral => {}
            }
        }
        self.dispatch();
    }

    /// Multiplicative decrease, at most once per smoothed call duration (a burst of 429s for
    /// calls sent together is one signal, not many).
    fn decrease(&self, state: &mut State, now: Instant) {
        let interval = state.service_time.unwrap_or(Duration::from_secs(1));
        if state
            .last_decrease
            .is_some_and(|at| now.saturating_duration_since(at) < interval)
        {
            return;
        }
        state.last_decrease = Some(now);
        state.limit =
            (state.limit * self.config.decrease_factor).max(f64::from(bounds(&self.config).0));
    }

    /// The upstream's `x-ratelimit-*` reading: a request budget until the reset, and a
    /// decrease when the requests or tokens left are near zero.
    ///
    /// The reading counts the call it answers and the calls that reached the upstream before
    /// it. Calls still in flight that were sent after it, or up to [`REORDER_WINDOW`] before
    /// it (calls on different connections may arrive out of order), may not be counted yet,
    /// so they are taken off what is left; older calls in flight have long arrived. Reported
    /// outside a call (no dispatch number), the window is counted back from now.
    pub(crate) fn observe_quota(&self, quota: &UpstreamQuota) {
        let now = Instant::now();
        let seq = DISPATCH.try_with(|seq| *seq).ok();
        {
            let mut state = self.lock();
            let sent_at = seq
                .and_then(|seq| state.in_flight_seqs.get(&seq).copied())
                .unwrap_or(now);
            let since = sent_at.checked_sub(REORDER_WINDOW).unwrap_or(sent_at);
            let unseen = state
                .in_flight_seqs
                .iter()
                .filter(|(other, at)| Some(**other) != seq && **at >= since)
                .count() as u64;
            if let (Some(remaining), Some(reset)) = (quota.remaining_requests, quota.reset_requests)
            {
                let remaining = remaining.saturating_sub(unseen);
                let window = state.budget.map_or(reset, |b| b.window.max(reset));
                // The upstream's clock and rounding are not ours: a call sent a hair before its
                // reset counts against the old window, so wait a little past it.
                let margin = (reset / 50).max(Duration::from_millis(20));
                state.budget = Some(Budget {
                    remaining,
                    resets_at: now + reset + margin,
                    limit: quota.limit_requests,
                    window,
                });
            }
            let near_zero = |remaining: Option<u64>, limit: Option<u64>| match (remaining, limit) {
                (Some(r), Some(l)) => r.saturating_mul(50) <= l,
                (Some(r), None) => r == 0,
                _ => false,
            };
            if near_zero(quota.remaining_requests, quota.limit_requests)
                || near_zero(quota.remaining_tokens, quota.limit_tokens)
            {
                self.decrease(&mut state, now);
            }
            if quota.remaining_tokens == Some(0) {
                if let Some(reset) = quota.reset_tokens {
                    let until = now + reset;
                    state.paused_until = Some(state.paused_until.map_or(until, |p| p.max(until)));
                }
            }
        }
        self.dispatch();
    }

    pub(crate) fn reading(&self) -> GateReading {
        let now = Instant::now();
        let state = self.lock();
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "the limit lies between 1 and max_in_flight, a u32"
        )]
        let limit = state.limit.floor() as u32;
        GateReading {
            limit,
            in_flight: state.in_flight,
            queued: u32::try_from(state.queue.len()).unwrap_or(u32::MAX),
            paused_for: state
                .paused_until
                .map_or(Duration::ZERO, |until| until.saturating_duration_since(now)),
            service_time: state.service_time,
        }
    }
}

/// The limit's floor and ceiling: the ceiling wins when the two disagree.
fn bounds(config: &ConcurrencyConfig) -> (u32, u32) {
    let ceiling = config.max_in_flight.max(1);
    (config.min_in_flight.clamp(1, ceiling), ceiling)
}

/// The upstream's rate-limit headers of one answer, as the adapter read them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpstreamQuota {
    /// `x-ratelimit-remaining-requests`.
    pub remaining_requests: Option<u64>,
    /// `x-ratelimit-limit-requests`.
    pub limit_requests: Option<u64>,
    /// `x-ratelimit-reset-requests`.
    pub reset_requests: Option<Duration>,
    /// `x-ratelimit-remaining-tokens`.
    pub remaining_tokens: Option<u64>,
    /// `x-ratelimit-limit-tokens`.
    pub limit_tokens: Option<u64>,
    /// `x-ratelimit-reset-tokens`.
    pub reset_tokens: Option<Duration>,
}
