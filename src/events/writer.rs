//! The Event writer task: drain the queue into the aggregator, and every tick write what
//! is due (create new Events, merge-patch the count of repeated ones) within the rate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, Patch, PatchParams, PostParams};
use tokio::sync::mpsc;

use super::aggregate::{count_of, Aggregator, Observed, Write};
use super::object::{self, Violation};
use super::EventOptions;
use crate::metrics::Metrics;

/// How often due writes are looked for.
const TICK: Duration = Duration::from_millis(200);

/// Longest wait for one write: a hung API server must not hold the writer (and so every
/// later Event) for the client's own, much longer, read timeout.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// `call` cut off at [`WRITE_TIMEOUT`], as a kube error so callers treat both alike.
async fn bounded<T>(
    call: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, kube::Error> {
    tokio::time::timeout(WRITE_TIMEOUT, call)
        .await
        .unwrap_or_else(|_| {
            Err(kube::Error::Service(
                format!("no answer within {}s", WRITE_TIMEOUT.as_secs()).into(),
            ))
        })
}

/// Wall-clock time as RFC 3339 (seconds, UTC) and as nanoseconds since the epoch.
fn wall_clock() -> (String, u128) {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = i64::try_from(since.as_secs()).unwrap_or(0);
    let time = k8s_openapi::jiff::Timestamp::from_second(secs)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string());
    (time, since.as_nanos())
}

pub(super) async fn run(
    client: kube::Client,
    mut rx: mpsc::Receiver<Violation>,
    options: EventOptions,
    metrics: Arc<Metrics>,
) {
    let mut agg = Aggregator::new(options.limits, Instant::now());
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            got = rx.recv() => match got {
                Some(v) => observe(&mut agg, &v, &options, &metrics),
                None => break,
            },
            _ = tick.tick() => flush(&client, &mut agg, &metrics).await,
        }
    }
    // The sinks are gone (shutdown): write what is held, as far as the rate allows now.
    flush(&client, &mut agg, &metrics).await;
}

fn observe(agg: &mut Aggregator, v: &Violation, options: &EventOptions, metrics: &Metrics) {
    let key = object::key(v, &options.placement);
    let (time, nanos) = wall_clock();
    let placement = &options.placement;
    let observed = agg.observe(key, Instant::now(), &time, || {
        object::draft(v, placement, &time, nanos)
    });
    if observed == Observed::Dropped {
        metrics.events_dropped.inc();
    }
}

async fn flush(client: &kube::Client, agg: &mut Aggregator, metrics: &Metrics) {
    for write in agg.due(Instant::now()) {
        let count = count_of(&write);
        match write {
            Write::Create { key, mut body } => {
                // A fresh name on every create: a recreated Event (the first expired) must
                // not collide with the old one.
                let involved = body["involvedObject"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                body["metadata"]["name"] = object::event_name(&involved, wall_clock().1).into();
                let event: Event = match serde_json::from_value(body) {
                    Ok(e) => e,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot encode an Event; dropped");
                        metrics.events_dropped.inc();
                        agg.forget(&key);
                        continue;
                    }
                };
                let api: Api<Event> = Api::namespaced(client.clone(), &key.namespace);
                match bounded(api.create(&PostParams::default(), &event)).await {
                    Ok(created) => {
                        metrics.events_written.inc();
                        agg.written(&key, created.metadata.name.as_deref().unwrap_or(""), count);
                    }
                    Err(e) => {
                        tracing::warn!(namespace = %key.namespace, reason = key.reason, error = %e,
                            "cannot create an Event; retrying later");
                    }
                }
            }
            Write::Patch { key, name, patch } => {
                let api: Api<Event> = Api::namespaced(client.clone(), &key.namespace);
                match bounded(api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)))
                    .await
                {
                    Ok(_) => {
                        metrics.events_written.inc();
                        agg.written(&key, &name, count);
                    }
                    Err(kube::Error::Api(s)) if s.code == 404 => agg.lost(&key),
                    Err(e) => {
                        tracing::warn!(namespace = %key.namespace, event = %name, error = %e,
                            "cannot update an Event's count; retrying later");
                    }
                }
            }
        }
    }
}
