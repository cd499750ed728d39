//! Helpers of the chart tests: run scripts/helm-chart.py (real Helm through the
//! helm-python-sdk wheel), parse what it renders, and read the rendered objects.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use base64::Engine as _;
use portcullis::matching::{LabelSelector, LabelView};
use serde_json::{json, Value};

/// The repository root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// True when Helm can run here; panics when it cannot but CI requires it.
pub fn helm_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        let ok = Command::new("python3")
            .args(["-c", "import helm_python"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            let required = std::env::var("PORTCULLIS_REQUIRE_HELM").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "PORTCULLIS_REQUIRE_HELM=1 but Helm is missing: pip install helm-python-sdk"
            );
            eprintln!("helm chart tests skipped: Helm SDK missing (pip install helm-python-sdk)");
        }
        ok
    })
}

/// Run scripts/helm-chart.py; Ok(stdout) on exit 0, Err(stderr + stdout) otherwise.
pub fn script(args: &[&str]) -> Result<String, String> {
    let out = Command::new("python3")
        .arg(root().join("scripts/helm-chart.py"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!("{}{stdout}", String::from_utf8_lossy(&out.stderr)))
    }
}

/// `cmd` followed by `--set` and each expression.
pub fn with_sets<'a>(cmd: &'a str, sets: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![cmd];
    for s in sets {
        args.extend(["--set", s]);
    }
    args
}

/// Render with `--set` expressions; the documents in apply order.
pub fn render(sets: &[&str]) -> Vec<Value> {
    let text = script(&with_sets("render", sets)).expect("chart renders");
    parse(&text)
}

/// The documents of rendered YAML.
pub fn parse(text: &str) -> Vec<Value> {
    portcullis::manifests::parse_documents(text, "rendered chart")
        .expect("rendered YAML parses")
        .into_iter()
        .map(|d| d.value)
        .collect()
}

/// The kinds of the documents, in order.
pub fn kinds(docs: &[Value]) -> Vec<&str> {
    docs.iter().filter_map(|d| d["kind"].as_str()).collect()
}

/// The single document of a kind.
pub fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let mut found = docs.iter().filter(|d| d["kind"] == kind);
    let first = found.next().unwrap_or_else(|| panic!("no {kind} rendered"));
    assert!(found.next().is_none(), "more than one {kind}");
    first
}

/// Every webhook of both configurations, with its configuration's kind.
pub fn webhooks(docs: &[Value]) -> Vec<(&str, &Value)> {
    [
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    ]
    .into_iter()
    .flat_map(|kind| {
        one(docs, kind)["webhooks"]
            .as_array()
            .expect("webhooks list")
            .iter()
            .map(move |w| (kind, w))
    })
    .collect()
}

/// The Deployment of this name.
pub fn deployment<'a>(docs: &'a [Value], name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no Deployment {name} rendered"))
}

/// The webhook Deployment (cluster mode adds an audit Deployment beside it).
pub fn webhook_deployment(docs: &[Value]) -> &Value {
    deployment(docs, "portcullis")
}

/// The webhook Deployment's portcullis container.
pub fn container(docs: &[Value]) -> &Value {
    &webhook_deployment(docs)["spec"]["template"]["spec"]["containers"][0]
}

/// The container's arguments.
pub fn args(docs: &[Value]) -> Vec<&str> {
    container(docs)["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect()
}

/// Would kube-apiserver send requests in this namespace (with these labels) to the hook?
pub fn selects(hook: &Value, namespace: &str, labels: Value) -> bool {
    let selector: LabelSelector =
        serde_json::from_value(hook["namespaceSelector"].clone()).expect("a LabelSelector");
    let ns = json!({"metadata": {"name": namespace, "labels": labels}});
    let view = LabelView {
        namespace_name: Some(namespace),
        ..LabelView::of_object(&ns)
    };
    selector.matches(&view)
}

/// Decode a base64 field of a rendered object.
pub fn b64(data: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(data.as_str().expect("base64 string"))
        .expect("valid base64")
}
