//! The chart's values for Kubernetes Events and policy reports: off by default (no flags,
//! no RBAC for them); when set, both Deployments get the flags (each acts where its work
//! runs) and the ClusterRole grants exactly the Event and report verbs the writers use.
//!
//! Without the Helm SDK these tests skip with a message, like tests/helm_chart.rs; with
//! `PORTCULLIS_REQUIRE_HELM=1` they fail instead.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the point

#[allow(dead_code)] // the helpers are shared with tests/helm_chart.rs
mod helm;

use helm::{deployment, helm_available, render};
use serde_json::Value;

fn args_of<'a>(docs: &'a [Value], name: &str) -> Vec<&'a str> {
    deployment(docs, name)["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect()
}

/// The verbs the server's own ClusterRole (named as the release) grants on `group` and
/// `resource` (the certificate rotation role is another ClusterRole).
fn verbs(docs: &[Value], group: &str, resource: &str) -> Vec<String> {
    docs.iter()
        .find(|d| d["kind"] == "ClusterRole" && d["metadata"]["name"] == "portcullis")
        .expect("the server's ClusterRole")["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .filter(|r| {
            r["apiGroups"]
                .as_array()
                .is_some_and(|g| g.iter().any(|x| x == group))
                && r["resources"]
                    .as_array()
                    .is_some_and(|g| g.iter().any(|x| x == resource))
        })
        .flat_map(|r| r["verbs"].as_array().cloned().unwrap_or_default())
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

#[test]
fn events_and_reports_are_off_by_default() {
    if !helm_available() {
        return;
    }
    // Both Deployments: the webhook's, and the audit's when it runs apart from the leader.
    let docs = render(&["mode=cluster", "audit.separateDeployment=true"]);
    for name in ["portcullis", "portcullis-audit"] {
        let args = args_of(&docs, name);
        assert!(
            !args
                .iter()
                .any(|a| a.contains("events") || a.contains("policy-report")),
            "{name}: {args:?}"
        );
    }
    assert!(verbs(&docs, "", "events").is_empty());
    assert!(verbs(&docs, "wgpolicyk8s.io", "policyreports").is_empty());
}

#[test]
fn values_turn_on_flags_and_the_rbac_they_need() {
    if !helm_available() {
        return;
    }
    let docs = render(&[
        "mode=cluster",
        "audit.separateDeployment=true",
        "emitAdmissionEvents=true",
        "emitAuditEvents=true",
        "auditEventsInvolvedNamespace=true",
        "events.perSecond=2",
        "events.burst=10",
        "policyReports.enabled=true",
        "policyReports.resultsLimit=200",
    ]);
    for name in ["portcullis", "portcullis-audit"] {
        let args = args_of(&docs, name);
        for flag in [
            "--emit-admission-events",
            "--emit-audit-events",
            "--audit-events-involved-namespace",
            "--events-per-second=2",
            "--events-burst=10",
            "--policy-reports",
            "--policy-report-results-limit=200",
        ] {
            assert!(args.contains(&flag), "{name} lacks {flag}: {args:?}");
        }
        assert!(!args.contains(&"--admission-events-involved-namespace"));
    }
    let mut events = verbs(&docs, "", "events");
    events.sort();
    assert_eq!(events, ["create", "patch"]);
    for resource in ["policyreports", "clusterpolicyreports"] {
        let mut v = verbs(&docs, "wgpolicyk8s.io", resource);
        v.sort();
        assert_eq!(
            v,
            ["create", "delete", "get", "list", "update"],
            "{resource}"
        );
    }
    // The schema refuses a misspelt value.
    let refused = helm::script(&[
        "render",
        "--set",
        "mode=cluster",
        "--set",
        "policyReports.limit=5",
    ]);
    assert!(refused.is_err(), "{refused:?}");
}
