//! The server's life after SIGTERM, shaped for rolling updates.
//!
//! When the kubelet sends SIGTERM it also removes the Pod from the Service's endpoints, but
//! the API servers and kube-proxy learn of it only a few seconds later. Closing the listener
//! at once refuses the requests sent meanwhile, and with `failurePolicy: Fail` those writes
//! fail. So shutdown has three stages:
//!
//! 1. Serving ([`Stage::Serving`]), as usual.
//! 2. Draining ([`Stage::Draining`]): `/readyz` fails at once; new connections and requests are still
//!    served for `--shutdown-delay`, while the endpoints update.
//! 3. Closing ([`Stage::Closing`]): the listener closes; open connections finish the request in hand
//!    and close (HTTP/1.1 `Connection: close`, HTTP/2 GOAWAY), for at most `--shutdown-grace`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// Where the server is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// Serving and ready.
    Serving,
    /// Not ready, still serving everything that arrives.
    Draining,
    /// Not accepting; open connections finish what they have in hand.
    Closing,
}

/// Shared view and control of the server's [`Stage`].
#[derive(Debug, Clone)]
pub struct Lifecycle {
    tx: Arc<watch::Sender<Stage>>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle::new()
    }
}

impl Lifecycle {
    /// A server that is serving.
    pub fn new() -> Self {
        Lifecycle {
            tx: Arc::new(watch::Sender::new(Stage::Serving)),
        }
    }

    /// The current stage.
    pub fn stage(&self) -> Stage {
        *self.tx.borrow()
    }

    /// Move forward to `stage` (never back).
    pub fn advance(&self, stage: Stage) {
        self.tx.send_if_modified(|current| {
            if stage > *current {
                *current = stage;
                true
            } else {
                false
            }
        });
    }

    /// Resolves once the stage is at least `stage`.
    pub async fn reached(&self, stage: Stage) {
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(|s| *s >= stage).await;
    }

    /// The shutdown sequence: draining now, closing after `delay`.
    pub async fn shut_down(&self, delay: Duration) {
        self.advance(Stage::Draining);
        tracing::info!(
            delay_s = delay.as_secs_f64(),
            "shutting down: not ready; serving on while endpoints update"
        );
        tokio::time::sleep(delay).await;
        tracing::info!("shutting down: closing the listener, finishing in-flight requests");
        self.advance(Stage::Closing);
    }
}

/// Resolves on SIGTERM or ctrl-c, whichever comes first.
pub async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stages_only_move_forward_and_wake_waiters() {
        let life = Lifecycle::new();
        assert_eq!(life.stage(), Stage::Serving);
        let waiter = {
            let life = life.clone();
            tokio::spawn(async move { life.reached(Stage::Closing).await })
        };
        life.advance(Stage::Closing);
        life.advance(Stage::Draining);
        assert_eq!(life.stage(), Stage::Closing, "never back");
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .expect("woken")
            .expect("joined");
    }
}
