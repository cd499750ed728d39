//! Certificate rotation in the process (`serve --cert-rotation`): the webhook's CA and
//! serving certificate live in a Secret of the server's namespace, are made when missing,
//! renewed well before they expire, and written into the `caBundle` of the webhook
//! configurations; every replica serves what the Secret holds and picks up a new pair
//! without a restart.
//!
//! Every replica runs the same loop, every poll period:
//!
//! 1. Read the Secret. Missing: make a CA and certificate and create it; of replicas
//!    starting together one create wins, the others get 409 AlreadyExists and read what
//!    the winner wrote.
//! 2. Due for renewal ([`material::Material::renewal`]): write the renewed material with
//!    the resourceVersion read (409 Conflict: another replica renewed first; its material
//!    is read and used). A new CA is first added to both webhook configurations'
//!    `caBundle`, beside the old one, and only then written to the Secret, so the API
//!    server trusts a certificate before any replica serves it.
//! 3. Serve the Secret's pair if it is not the one serving (a broken pair is logged and
//!    the previous one keeps serving), and make sure each webhook of the two
//!    configurations trusts every CA of the Secret's bundle.

mod der;
pub mod material;

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{ApiResource, DynamicObject, ObjectMeta, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::Api;
use serde_json::{json, Value};

use crate::server::tls::{self, TlsHandle};
use material::{Material, Renewal, Validity};

/// The Secret annotation listing the names the serving certificate was made for, so a
/// change of `--dns-name` flags reissues it.
pub const NAMES_ANNOTATION: &str = "portcullis.io/dns-names";

/// Default time between checks of the Secret.
pub const DEFAULT_POLL: Duration = Duration::from_secs(10);

/// Errors of certificate rotation.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    /// The API server refused or failed a request.
    #[error("certificate rotation: {0}")]
    Api(#[from] kube::Error),
    /// Certificates could not be made.
    #[error(transparent)]
    Cert(#[from] crate::certs::CertError),
    /// The Secret's pair cannot be served.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// Settings that cannot work.
    #[error("certificate rotation: {0}")]
    Invalid(String),
}

/// Settings of certificate rotation.
#[derive(Debug, Clone)]
pub struct RotationOptions {
    /// The Secret's name.
    pub secret: String,
    /// Its namespace (the server's).
    pub namespace: String,
    /// Names of the serving certificate besides the loopback ones (the Service's DNS names).
    pub dns_names: Vec<String>,
    /// The ValidatingWebhookConfiguration whose webhooks get the caBundle, if any.
    pub validating_webhook: Option<String>,
    /// The MutatingWebhookConfiguration whose webhooks get the caBundle, if any.
    pub mutating_webhook: Option<String>,
    /// Certificate lifetimes and renewal window.
    pub validity: Validity,
    /// Time between checks.
    pub poll: Duration,
}

impl RotationOptions {
    /// Options with Gatekeeper's lifetimes and the default poll period.
    pub fn new(secret: &str, namespace: &str) -> Self {
        RotationOptions {
            secret: secret.into(),
            namespace: namespace.into(),
            dns_names: Vec::new(),
            validating_webhook: None,
            mutating_webhook: None,
            validity: Validity::default(),
            poll: DEFAULT_POLL,
        }
    }
}

/// The admissionregistration resources the caBundle goes into.
fn webhook_resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("admissionregistration.k8s.io", "v1", kind),
        plural,
    )
}

fn code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// One replica's rotator.
pub struct CertRotator {
    secrets: Api<Secret>,
    webhooks: Vec<(Api<DynamicObject>, String)>,
    options: RotationOptions,
    /// The material serving now.
    serving: Option<Material>,
    /// Renew the CA on the next check whatever its age (see [`rotate_ca`](Self::rotate_ca)).
    force_ca: bool,
    /// Whether, at the last check, every named webhook configuration existed and trusted
    /// the Secret's CAs; until then checks run every second (a webhook configuration
    /// applied after the pods must not wait a whole poll period for its caBundle).
    bundles_ok: bool,
}

impl std::fmt::Debug for CertRotator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertRotator")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl CertRotator {
    /// A rotator writing through `client`.
    ///
    /// # Errors
    /// Lifetimes that would renew forever.
    pub fn new(client: kube::Client, options: RotationOptions) -> Result<Self, RotationError> {
        options
            .validity
            .validate()
            .map_err(RotationError::Invalid)?;
        let mut webhooks = Vec::new();
        for (name, kind, plural) in [
            (
                &options.validating_webhook,
                "ValidatingWebhookConfiguration",
                "validatingwebhookconfigurations",
            ),
            (
                &options.mutating_webhook,
                "MutatingWebhookConfiguration",
                "mutatingwebhookconfigurations",
            ),
        ] {
            if let Some(name) = name.as_ref().filter(|n| !n.is_empty()) {
                let api = Api::all_with(client.clone(), &webhook_resource(kind, plural));
                webhooks.push((api, name.clone()));
            }
        }
        Ok(CertRotator {
            secrets: Api::namespaced(client, &options.namespace),
            webhooks,
            options,
            serving: None,
            force_ca: false,
            bundles_ok: false,
        })
    }

    /// Check until the Secret holds usable material, then serve it: the handle the server
    /// serves with, and the task that keeps checking every poll period (abort it to stop).
    /// A failed first check is retried every few seconds, as the server cannot serve
    /// without a certificate.
    pub async fn start(mut self) -> (TlsHandle, tokio::task::JoinHandle<()>) {
        // Whatever an earlier `check` served, the new handle starts from the Secret.
        self.serving = None;
        let mut wait = Duration::from_millis(500);
        let config = loop {
            match self.check(None).await {
                Ok(Some(config)) => break config,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "certificate rotation: no usable certificate yet")
                }
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(10));
        };
        let handle = TlsHandle::new(config);
        let task = tokio::spawn(self.run(handle.clone()));
        (handle, task)
    }

    async fn run(mut self, handle: TlsHandle) {
        loop {
            let wait = if self.bundles_ok {
                self.options.poll
            } else {
                self.options.poll.min(Duration::from_secs(1))
            };
            tokio::time::sleep(wait).await;
            if let Err(e) = self.check(Some(&handle)).await {
                tracing::warn!(error = %e, "certificate rotation: check failed; retrying next period");
            }
        }
    }

    /// Make the next check renew the CA (and the serving certificate) whatever their age,
    /// as an operator would after a key leak.
    pub fn rotate_ca(&mut self) {
        self.force_ca = true;
    }

    /// One check (see the module documentation). Serves a new pair on `handle`; returns
    /// the configuration of a pair that is not yet serving (the first, when `handle` is
    /// `None`).
    ///
    /// # Errors
    /// The API server failed, or the Secret's pair cannot be served.
    pub async fn check(
        &mut self,
        handle: Option<&TlsHandle>,
    ) -> Result<Option<rustls::ServerConfig>, RotationError> {
        let material = self.current_material().await?;
        if self.serving.as_ref() == Some(&material) {
            self.ensure_ca_bundles(&material).await?;
            return Ok(None);
        }
        let config = tls::server_config(material.cert.as_bytes(), material.key.as_bytes())?;
        self.ensure_ca_bundles(&material).await?;
        self.serving = Some(material);
        tracing::info!(secret = %self.options.secret, "certificate rotation: serving the Secret's certificate");
        match handle {
            Some(h) => {
                h.replace(config);
                Ok(None)
            }
            None => Ok(Some(config)),
        }
    }

    /// The Secret's material after any renewal due now: made and created when missing,
    /// renewed and written when due, or as another replica wrote it first.
    async fn current_material(&mut self) -> Result<Material, RotationError> {
        let names = &self.options.dns_names.clone();
        let validity = self.options.validity;
        for _ in 0..3 {
            let Some(secret) = self.read_secret().await? else {
                let fresh = Material::create(names, validity)?;
                self.ensure_ca_bundles(&fresh).await?;
                match self
                    .secrets
                    .create(&PostParams::default(), &self.secret_for(&fresh, None, None))
                    .await
                {
                    Ok(_) => {
                        tracing::info!(secret = %self.options.secret, "certificate rotation: created the CA and serving certificate");
                        return Ok(fresh);
                    }
                    Err(e) if code(&e) == Some(409) => continue,
                    Err(e) => return Err(e.into()),
                }
            };
            let now = time::OffsetDateTime::now_utc();
            let names_ok = secret
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(NAMES_ANNOTATION))
                .is_some_and(|n| *n == names.join(","));
            let (current, renewal) = match secret.data.as_ref().and_then(Material::from_data) {
                Some(m) => {
                    let r = if self.force_ca {
                        Renewal::Ca
                    } else {
                        m.renewal(now, validity.lookahead, names_ok)
                    };
                    (Some(m), r)
                }
                None => (None, Renewal::Ca),
            };
            let next = match (&current, renewal) {
                (Some(m), Renewal::Keep) => return Ok(m.clone()),
                (Some(m), r) => m.renewed(r, names, validity, now)?,
                // Unusable or foreign (a Secret made by other means, without `ca.key`):
                // new material, with the CA it held still trusted while replicas switch.
                (None, _) => {
                    let mut fresh = Material::create(names, validity)?;
                    if let Some(data) = &secret.data {
                        fresh.bundle.extend(material::previous_cas(data, now));
                    }
                    fresh
                }
            };
            if renewal == Renewal::Ca {
                // Trusted before served: the new CA joins the caBundle first.
                self.ensure_ca_bundles(&next).await?;
            }
            let rv = secret.metadata.resource_version.clone();
            // A Secret's type cannot change: keep the one it has.
            let kind = secret.type_.clone();
            match self
                .secrets
                .replace(
                    &self.options.secret,
                    &PostParams::default(),
                    &self.secret_for(&next, rv, kind),
                )
                .await
            {
                Ok(_) => {
                    self.force_ca = false;
                    tracing::info!(secret = %self.options.secret, ?renewal, "certificate rotation: renewed");
                    return Ok(next);
                }
                // Another replica wrote first: read and use its material.
                Err(e) if code(&e) == Some(409) => {
                    self.force_ca = false;
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(RotationError::Invalid(
            "the Secret kept changing under three writes in a row".into(),
        ))
    }

    async fn read_secret(&self) -> Result<Option<Secret>, RotationError> {
        match self.secrets.get(&self.options.secret).await {
            Ok(s) => Ok(Some(s)),
            Err(e) if code(&e) == Some(404) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn secret_for(
        &self,
        m: &Material,
        resource_version: Option<String>,
        kind: Option<String>,
    ) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some(self.options.secret.clone()),
                namespace: Some(self.options.namespace.clone()),
                resource_version,
                annotations: Some(
                    [(
                        NAMES_ANNOTATION.to_string(),
                        self.options.dns_names.join(","),
                    )]
                    .into(),
                ),
                labels: Some(
                    [(
                        "app.kubernetes.io/managed-by".to_string(),
                        "portcullis".to_string(),
                    )]
                    .into(),
                ),
                ..ObjectMeta::default()
            },
            type_: kind.or_else(|| Some("kubernetes.io/tls".into())),
            data: Some(m.to_data()),
            ..Secret::default()
        }
    }

    /// Make every webhook of the two configurations trust every CA of `m`'s bundle (a CA
    /// announced by a rotation still in progress is left in place). A configuration that
    /// does not exist yet is skipped: the next check tries again.
    async fn ensure_ca_bundles(&mut self, m: &Material) -> Result<(), RotationError> {
        let wanted = m.bundle_pem();
        self.bundles_ok = false;
        let mut all = true;
        for (api, name) in &self.webhooks {
            let config = match api.get(name).await {
                Ok(c) => c,
                Err(e) if code(&e) == Some(404) => {
                    tracing::warn!(webhook = %name, "certificate rotation: webhook configuration not found");
                    all = false;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let Some(patch) = ca_bundle_patch(&config, &m.bundle, &wanted) else {
                continue;
            };
            match api
                .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {
                    tracing::info!(webhook = %name, "certificate rotation: caBundle updated")
                }
                // Changed meanwhile: the next check reads it again.
                Err(e) if code(&e) == Some(409) => all = false,
                Err(e) => return Err(e.into()),
            }
        }
        self.bundles_ok = all;
        Ok(())
    }
}

/// The merge patch that sets `wanted` (base64 of the PEM bundle) as the caBundle of every
/// webhook of `config` lacking one of `cas`, with the resourceVersion read as
/// precondition; `None` when all trust every CA already.
fn ca_bundle_patch(config: &DynamicObject, cas: &[String], wanted: &str) -> Option<Value> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let hooks = config.data.get("webhooks")?.as_array()?;
    let trusts_all = |hook: &Value| {
        let have = hook["clientConfig"]["caBundle"]
            .as_str()
            .and_then(|s| b64.decode(s).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .map(|s| material::split_pem(&s))
            .unwrap_or_default();
        cas.iter().all(|ca| have.contains(ca))
    };
    if hooks.iter().all(trusts_all) {
        return None;
    }
    let encoded = b64.encode(wanted.as_bytes());
    let updated: Vec<Value> = hooks
        .iter()
        .map(|hook| {
            let mut hook = hook.clone();
            hook["clientConfig"]["caBundle"] = json!(encoded);
            hook
        })
        .collect();
    Some(json!({
        "metadata": {"resourceVersion": config.metadata.resource_version},
        "webhooks": updated,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn config(bundle: Option<&str>) -> DynamicObject {
        let mut hook =
            json!({"name": "validation.portcullis.io", "clientConfig": {"service": {"name": "p"}}});
        if let Some(b) = bundle {
            hook["clientConfig"]["caBundle"] =
                json!(base64::engine::general_purpose::STANDARD.encode(b));
        }
        serde_json::from_value(json!({"apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "v", "resourceVersion": "7"},
            "webhooks": [hook, {"name": "second", "clientConfig": {}}]}))
        .unwrap()
    }

    #[test]
    fn every_webhook_gets_the_bundle_until_each_trusts_every_ca() {
        let m = Material::create(&[], Validity::default()).unwrap();
        let patch = ca_bundle_patch(&config(None), &m.bundle, &m.bundle_pem()).unwrap();
        assert_eq!(patch["metadata"]["resourceVersion"], "7");
        let hooks = patch["webhooks"].as_array().unwrap();
        assert_eq!(hooks.len(), 2);
        for h in hooks {
            let pem = base64::engine::general_purpose::STANDARD
                .decode(h["clientConfig"]["caBundle"].as_str().unwrap())
                .unwrap();
            assert_eq!(String::from_utf8(pem).unwrap(), m.bundle_pem());
        }
        assert_eq!(hooks[0]["clientConfig"]["service"]["name"], "p", "kept");
        // Once trusted everywhere, nothing to write; an extra (announced) CA is left alone.
        let mut both = config(Some(&m.bundle_pem()));
        both.data["webhooks"][1] = both.data["webhooks"][0].clone();
        assert!(ca_bundle_patch(&both, &m.bundle, &m.bundle_pem()).is_none());
        let other = Material::create(&[], Validity::default()).unwrap();
        let mut announced = config(Some(&format!("{}{}", m.bundle_pem(), other.bundle_pem())));
        announced.data["webhooks"][1] = announced.data["webhooks"][0].clone();
        assert!(ca_bundle_patch(&announced, &m.bundle, &m.bundle_pem()).is_none());
        assert!(ca_bundle_patch(&announced, &[m.bundle[0].clone(), "x".into()], "").is_some());
    }
}
