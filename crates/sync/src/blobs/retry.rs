//! What a failed request costs: transient failures (network, 5xx, 423,
//! 429) are retried a few times with exponential backoff inside one run,
//! fatal ones end it.

use std::time::Duration;

use crate::SyncError;

/// Longest wait a `Retry-After` may impose inside one run; longer waits are
/// left to the engine's loop.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Retries of transient failures (network, 5xx, 423 locked, 429) inside one
/// run, before the run gives up and leaves the rest to the engine's loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Consecutive failures tolerated; progress resets the count.
    pub attempts: u32,
    /// First wait; doubled after each failure.
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
        }
    }
}

/// A request that did not get a usable answer.
#[derive(Debug)]
pub(super) enum Step {
    /// Worth retrying after a pause (network, 5xx, 423, 429).
    Transient {
        error: SyncError,
        wait: Option<Duration>,
    },
    /// Ends the run (401, nonsense answers).
    Fatal(SyncError),
}

impl Step {
    pub(super) fn transport(err: reqwest::Error) -> Step {
        Step::Transient {
            error: crate::client::transport_error(err),
            wait: None,
        }
    }

    /// The server's view of the upload differs from ours (offset moved,
    /// upload gone): follow it at once, but only a few times in a row.
    pub(super) fn disagreement() -> Step {
        Step::Transient {
            error: SyncError::Protocol(
                "the server's upload offset keeps changing under this device".into(),
            ),
            wait: Some(Duration::ZERO),
        }
    }

    pub(super) fn protocol(what: &str) -> Step {
        Step::Fatal(SyncError::Protocol(what.to_owned()))
    }
}

/// Consecutive transient failures of one blob, with exponential backoff.
pub(super) struct Failures {
    policy: RetryPolicy,
    count: u32,
}

impl Failures {
    pub(super) fn new(policy: RetryPolicy) -> Self {
        Failures { policy, count: 0 }
    }

    pub(super) fn reset(&mut self) {
        self.count = 0;
    }

    fn delay(&self) -> Duration {
        let factor = 1u32 << self.count.saturating_sub(1).min(16);
        self.policy
            .first_delay
            .saturating_mul(factor)
            .min(self.policy.max_delay)
    }

    /// Waits before the next try, or returns the error once the budget is
    /// spent (or at once for a fatal one).
    pub(super) async fn absorb(&mut self, step: Step) -> Result<(), SyncError> {
        let (error, wait) = match step {
            Step::Fatal(error) => return Err(error),
            Step::Transient { error, wait } => (error, wait),
        };
        self.count += 1;
        if self.count > self.policy.attempts {
            return Err(error);
        }
        let delay = wait.unwrap_or_else(|| self.delay()).min(MAX_RETRY_AFTER);
        tracing::debug!(error = %error, ?delay, attempt = self.count, "blob upload retrying");
        tokio::time::sleep(delay).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_gives_up_after_the_budget() {
        let mut failures = Failures::new(RetryPolicy {
            attempts: 2,
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(250),
        });
        failures.count = 1;
        assert_eq!(failures.delay(), Duration::from_millis(100));
        failures.count = 2;
        assert_eq!(failures.delay(), Duration::from_millis(200));
        failures.count = 3;
        assert_eq!(failures.delay(), Duration::from_millis(250));

        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut failures = Failures::new(RetryPolicy {
                attempts: 2,
                first_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(10),
            });
            let offline = || Step::Transient {
                error: SyncError::Offline {
                    detail: "cut".into(),
                },
                wait: None,
            };
            assert!(failures.absorb(offline()).await.is_ok());
            assert!(failures.absorb(offline()).await.is_ok());
            let err = failures.absorb(offline()).await.unwrap_err();
            assert_eq!(err.code(), "offline");
            failures.reset();
            assert!(failures.absorb(offline()).await.is_ok());
            let fatal = failures
                .absorb(Step::Fatal(SyncError::Unauthorized))
                .await
                .unwrap_err();
            assert_eq!(fatal.code(), "unauthorized");
        });
    }
}
