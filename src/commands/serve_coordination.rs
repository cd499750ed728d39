//! The parts of `serve` that coordinate replicas through the API server: leader election
//! for once-per-cluster work, and certificate rotation.

use std::sync::Arc;
use std::time::Duration;

use crate::cert_rotation::{CertRotator, RotationOptions};
use crate::cli::ServeArgs;
use crate::leader::{Elector, Leadership, LeaseOptions};
use crate::metrics::Metrics;
use crate::server::{tls::TlsHandle, Lifecycle, Stage};

/// The namespace the server's own objects (Lease, Secret) live in: `--namespace`, else the
/// client's (in a Pod, the Pod's namespace).
fn namespace(args: &ServeArgs, client: &kube::Client) -> String {
    args.namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_string())
}

/// This replica's name in the Lease: its Pod name, else the host name with a random suffix
/// (two processes on one host must not share an identity: both would believe they hold).
fn identity(args: &ServeArgs) -> String {
    if let Some(pod) = args.pod_name.as_ref().filter(|p| !p.is_empty()) {
        return pod.clone();
    }
    use std::hash::{BuildHasher, Hasher};
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "portcullis".into());
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    format!("{host}_{:016x}", h.finish())
}

/// Start leader election when `--leader-elect` asks for it (cluster mode); `None` when
/// every replica is to run the once-per-cluster work. The Lease is released as soon as
/// shutdown begins, so another replica takes over at once.
///
/// # Errors
/// Timing that could give two leaders.
pub(super) fn start_election(
    args: &ServeArgs,
    client: kube::Client,
    metrics: &Arc<Metrics>,
    lifecycle: &Lifecycle,
) -> anyhow::Result<Option<Leadership>> {
    if !args.leader_elect {
        tracing::info!("leader election off: this replica runs the once-per-cluster work");
        return Ok(None);
    }
    let identity = identity(args);
    let options = LeaseOptions {
        lease_duration: args.leader_lease_duration,
        renew_deadline: args.leader_renew_deadline,
        retry_period: args.leader_retry_period,
        ..LeaseOptions::new(
            &args.leader_lease_name,
            &namespace(args, &client),
            &identity,
        )
    };
    tracing::info!(lease = %options.name, namespace = %options.namespace, identity = %identity,
        "leader election: competing for the lease");
    let elector = Elector::new(client, options, Some(metrics.clone()))?;
    let (leadership, handle) = elector.spawn();
    let lifecycle = lifecycle.clone();
    tokio::spawn(async move {
        lifecycle.reached(Stage::Draining).await;
        handle.release(Duration::from_secs(3)).await;
    });
    Ok(Some(leadership))
}

/// Start certificate rotation: the serving configuration (once the Secret holds a usable
/// pair) and the task that keeps checking.
///
/// # Errors
/// No Kubernetes client, or lifetimes that would renew forever.
pub(super) async fn start_cert_rotation(
    args: &ServeArgs,
) -> anyhow::Result<(TlsHandle, tokio::task::JoinHandle<()>)> {
    let client = kube::Client::try_default().await?;
    let options = RotationOptions {
        dns_names: args.dns_names.clone(),
        validating_webhook: args.validating_webhook_configuration_name.clone(),
        mutating_webhook: args.mutating_webhook_configuration_name.clone(),
        poll: args.cert_poll.max(Duration::from_secs(1)),
        ..RotationOptions::new(&args.cert_secret_name, &namespace(args, &client))
    };
    tracing::info!(secret = %options.secret, namespace = %options.namespace,
        "certificate rotation: serving the certificate of the Secret");
    let rotator = CertRotator::new(client, options)?;
    Ok(rotator.start().await)
}
