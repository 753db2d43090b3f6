//! The one retry policy for every outbound call: classify each failure by what the caller should
//! do, retry the transient ones with exponential backoff and full jitter, honour `Retry-After`,
//! and never sleep past the deadline.

use std::future::Future;
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

/// Failures partitioned by the action a caller would take, not by where they came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Transport errors, 408, 429, 5xx: worth retrying; still failing after the budget.
    Unavailable,
    /// 401/403: credentials or permissions; retrying will not help.
    Auth,
    /// Other 4xx: the request itself is wrong (unknown entity set, bad filter).
    Rejected,
    /// The answer could not be understood (bad JSON, truncated body).
    Protocol,
    /// The deadline passed before an answer.
    Timeout,
    /// An e.net session was refused or expired: log on again.
    Session,
}

impl ErrorKind {
    /// The stable name used in error rows, logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Unavailable => "upstream_unavailable",
            ErrorKind::Auth => "upstream_auth",
            ErrorKind::Rejected => "upstream_rejected",
            ErrorKind::Protocol => "upstream_protocol",
            ErrorKind::Timeout => "deadline_exceeded",
            ErrorKind::Session => "upstream_session",
        }
    }

    fn retriable(self) -> bool {
        matches!(
            self,
            ErrorKind::Unavailable | ErrorKind::Protocol | ErrorKind::Timeout
        )
    }
}

/// What a failure was about, finer than [`ErrorKind`]: for code that explains a failure to a
/// person (`check`), which decides on this, never on the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cause {
    #[default]
    Unclassified,
    /// The server's TLS certificate did not verify (or the handshake failed).
    Certificate,
    /// The connection was refused: nothing listens at that host and port.
    Refused,
    /// No connection could be made otherwise: the name does not resolve, or there is no route.
    Unreachable,
    /// The request's own timeout passed (connecting or waiting for the answer).
    TimedOut,
    /// The server answered with this HTTP status.
    Status(u16),
    /// The service does not know the table (an OData entity set that is not exposed).
    NoSuchTable,
    /// The table has no column the configuration names.
    NoSuchColumn,
}

/// One failed attempt.
#[derive(Debug, Clone)]
pub struct AttemptError {
    pub kind: ErrorKind,
    pub cause: Cause,
    /// Bounded label for metrics: `status_503`, `transport`, `truncated`...
    pub reason: &'static str,
    pub message: String,
    pub retry_after: Option<Duration>,
}

impl AttemptError {
    pub fn new(kind: ErrorKind, reason: &'static str, message: impl Into<String>) -> Self {
        AttemptError {
            kind,
            cause: Cause::Unclassified,
            reason,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn with_cause(mut self, cause: Cause) -> Self {
        self.cause = cause;
        self
    }

    /// Classifies an HTTP status the way vector's default retry logic does: 408, 429 and 5xx
    /// (but 501) are transient.
    pub fn from_status(
        status: u16,
        retry_after: Option<Duration>,
        message: impl Into<String>,
    ) -> Self {
        let (kind, reason) = match status {
            401 | 403 => (ErrorKind::Auth, "status_auth"),
            408 => (ErrorKind::Unavailable, "status_408"),
            429 => (ErrorKind::Unavailable, "status_429"),
            501 => (ErrorKind::Rejected, "status_501"),
            500 => (ErrorKind::Unavailable, "status_500"),
            502 => (ErrorKind::Unavailable, "status_502"),
            503 => (ErrorKind::Unavailable, "status_503"),
            504 => (ErrorKind::Unavailable, "status_504"),
            s if s >= 500 => (ErrorKind::Unavailable, "status_5xx"),
            _ => (ErrorKind::Rejected, "status_4xx"),
        };
        AttemptError {
            kind,
            cause: Cause::Status(status),
            reason,
            message: message.into(),
            retry_after,
        }
    }
}

/// The final failure after the policy gave up.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message} ({attempts} attempt{})", if *attempts == 1 { "" } else { "s" })]
pub struct UpstreamError {
    pub kind: ErrorKind,
    pub cause: Cause,
    pub message: String,
    pub attempts: u32,
}

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub max_attempts: u32,
    /// Whole-call budget, retries and waits included.
    pub deadline: Duration,
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` (attempt counts from 1): uniform in
    /// `[0, min(max, initial * 2^(attempt-1))]`, "full jitter", so that many callers that failed
    /// together do not come back together.
    pub fn backoff(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let exp = self.initial_backoff.saturating_mul(
            1u32.checked_shl(attempt.saturating_sub(1).min(20))
                .unwrap_or(u32::MAX),
        );
        let cap = exp.min(self.max_backoff);
        if cap.is_zero() {
            return cap;
        }
        Duration::from_micros(rng.gen_range(0..=cap.as_micros() as u64))
    }
}

/// Observes retries (metrics, logs) without the policy knowing about either.
pub trait RetryObserver: Sync {
    fn on_retry(&self, _what: &str, _error: &AttemptError, _attempt: u32, _wait: Duration) {}
}

/// No-op observer.
pub struct Quiet;
impl RetryObserver for Quiet {}

/// Runs `call` until it succeeds, fails for good, runs out of attempts or hits the deadline.
/// `call` gets the attempt number and the time it may take.
pub async fn run<T, F, Fut>(
    policy: &RetryPolicy,
    what: &str,
    observer: &(dyn RetryObserver + Sync),
    mut call: F,
) -> Result<(T, u32), UpstreamError>
where
    F: FnMut(u32, Duration) -> Fut,
    Fut: Future<Output = Result<T, AttemptError>>,
{
    let start = Instant::now();
    let deadline = start + policy.deadline;
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(UpstreamError {
                kind: ErrorKind::Timeout,
                cause: Cause::Unclassified,
                message: format!(
                    "{what}: no answer within the {} s deadline",
                    policy.deadline.as_secs_f32()
                ),
                attempts: attempt - 1,
            });
        }
        let outcome = match tokio::time::timeout(remaining, call(attempt, remaining)).await {
            Ok(r) => r,
            Err(_) => Err(AttemptError::new(
                ErrorKind::Timeout,
                "deadline",
                format!(
                    "{what}: no answer within the {} s deadline",
                    policy.deadline.as_secs_f32()
                ),
            )),
        };
        let error = match outcome {
            Ok(v) => return Ok((v, attempt)),
            Err(e) => e,
        };
        let give_up = |e: AttemptError| UpstreamError {
            kind: e.kind,
            cause: e.cause,
            message: e.message,
            attempts: attempt,
        };
        if !error.kind.retriable() || attempt >= policy.max_attempts {
            return Err(give_up(error));
        }
        let jitter = policy.backoff(attempt, &mut rand::thread_rng());
        let wait = match error.retry_after {
            Some(asked) => asked.max(jitter.min(policy.initial_backoff)),
            None => jitter,
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        if wait >= remaining {
            let mut e = error;
            if e.retry_after.is_some() {
                e.message = format!(
                    "{} (asked to retry after {} s, beyond the deadline)",
                    e.message,
                    wait.as_secs()
                );
            }
            return Err(give_up(e));
        }
        observer.on_retry(what, &error, attempt, wait);
        tokio::time::sleep(wait).await;
    }
}

/// Parses `Retry-After` as delta-seconds or an HTTP date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs.min(3600)));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - now;
    Some(
        delta
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(Duration::from_secs(3600)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn policy() -> RetryPolicy {
        RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            max_attempts: 5,
            deadline: Duration::from_secs(30),
        }
    }

    #[test]
    fn backoff_is_capped_and_jittered() {
        let p = policy();
        let mut rng = rand::thread_rng();
        for attempt in 1..40 {
            let cap = (p.initial_backoff * 2u32.saturating_pow(attempt - 1)).min(p.max_backoff);
            for _ in 0..20 {
                assert!(p.backoff(attempt, &mut rng) <= cap);
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_transient_errors_then_succeeds() {
        let calls = AtomicU32::new(0);
        let (v, attempts) = run(&policy(), "read", &Quiet, |_, _| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 3 {
                    Err(AttemptError::from_status(503, None, "busy"))
                } else {
                    Ok(42)
                }
            }
        })
        .await
        .unwrap();
        assert_eq!((v, attempts), (42, 4));
    }

    #[tokio::test(start_paused = true)]
    async fn does_not_retry_auth_failures() {
        let calls = AtomicU32::new(0);
        let err = run(&policy(), "read", &Quiet, |_, _| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), _>(AttemptError::from_status(401, None, "no")) }
        })
        .await
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Auth);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn stops_after_max_attempts() {
        let err = run(&policy(), "read", &Quiet, |_, _| async {
            Err::<(), _>(AttemptError::from_status(500, None, "boom"))
        })
        .await
        .unwrap_err();
        assert_eq!(err.attempts, 5);
        assert_eq!(err.kind, ErrorKind::Unavailable);
    }

    #[tokio::test(start_paused = true)]
    async fn honours_retry_after() {
        let start = Instant::now();
        let calls = AtomicU32::new(0);
        run(&policy(), "read", &Quiet, |_, _| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    Err(AttemptError::from_status(
                        429,
                        Some(Duration::from_secs(3)),
                        "slow down",
                    ))
                } else {
                    Ok(())
                }
            }
        })
        .await
        .unwrap();
        assert!(start.elapsed() >= Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_beyond_the_deadline_fails_now() {
        let p = RetryPolicy {
            deadline: Duration::from_secs(5),
            ..policy()
        };
        let start = Instant::now();
        let err = run(&p, "read", &Quiet, |_, _| async {
            Err::<(), _>(AttemptError::from_status(
                429,
                Some(Duration::from_secs(60)),
                "slow down",
            ))
        })
        .await
        .unwrap_err();
        assert_eq!(err.attempts, 1);
        assert!(start.elapsed() < Duration::from_secs(1));
        assert!(err.message.contains("beyond the deadline"));
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_bounds_slow_calls() {
        let p = RetryPolicy {
            deadline: Duration::from_secs(5),
            ..policy()
        };
        let start = Instant::now();
        let err = run(&p, "read", &Quiet, |_, _| async {
            tokio::time::sleep(Duration::from_secs(100)).await;
            Ok::<(), AttemptError>(())
        })
        .await
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Timeout);
        assert!(start.elapsed() <= Duration::from_secs(6));
    }

    #[test]
    fn retry_after_forms() {
        let now = chrono::DateTime::parse_from_rfc2822("Mon, 30 Nov 2026 10:00:00 GMT")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Mon, 30 Nov 2026 10:00:05 GMT", now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
