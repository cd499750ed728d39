use super::*;

fn ns_doc(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: {n}}}\n"))
        .collect()
}

/// A template and one constraint of it, from the repository's library.
fn repo_policy(dir: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    std::fs::copy(
        root.join("library/k8sallowedrepos.yaml"),
        dir.join("template.yaml"),
    )
    .expect("copy template");
    std::fs::copy(
        root.join("examples/allowed-repos.yaml"),
        dir.join("constraint.yaml"),
    )
    .expect("copy constraint");
}

fn source(dir: &Path, policy: FilePolicy) -> FileSource {
    FileSource::new(dir, BuildOptions::default()).with_policy(policy)
}

/// Lay out a directory the way the kubelet mounts a ConfigMap: real files in a
/// timestamped directory, `..data` pointing at it, visible names pointing into `..data`.
#[cfg(unix)]
fn configmap_generation(root: &Path, generation: u32, content: &str) {
    let gen_dir = format!("..2026_11_25_{generation}");
    std::fs::create_dir(root.join(&gen_dir)).expect("mkdir");
    std::fs::write(root.join(&gen_dir).join("policies.yaml"), content).expect("write");
    let tmp = root.join("..data_tmp");
    std::os::unix::fs::symlink(&gen_dir, &tmp).expect("symlink");
    std::fs::rename(&tmp, root.join("..data")).expect("swap ..data");
    let visible = root.join("policies.yaml");
    if std::fs::symlink_metadata(&visible).is_err() {
        std::os::unix::fs::symlink("..data/policies.yaml", &visible).expect("symlink");
    }
}

#[cfg(unix)]
#[test]
fn configmap_symlink_swap_is_reloaded_and_broken_sets_keep_the_last_good() {
    let dir = tempfile::tempdir().expect("tempdir");
    configmap_generation(dir.path(), 1, &ns_doc(&["a"]));
    let store = SnapshotStore::default();
    let metrics = Metrics::new();
    let src = FileSource::new(dir.path(), BuildOptions::default());
    assert_eq!(src.reload(&store, &metrics), Reload::Published);
    assert_eq!(store.load().namespaces.len(), 1);
    let before = settle::fingerprint(dir.path());

    configmap_generation(dir.path(), 2, &ns_doc(&["a", "b"]));
    assert_ne!(settle::fingerprint(dir.path()), before, "the swap is seen");
    assert_eq!(src.reload(&store, &metrics), Reload::Published);
    assert_eq!(store.load().namespaces.len(), 2);

    configmap_generation(dir.path(), 3, "kind: [unclosed");
    assert_eq!(src.reload(&store, &metrics), Reload::Partial);
    assert_eq!(
        store.load().namespaces.len(),
        2,
        "the broken file's last good content kept"
    );
    let text = metrics.encode();
    assert!(text.contains("portcullis_policy_reload_errors_total 1"));
    assert!(
        text.contains("portcullis_policy_objects{kind=\"file\",state=\"refused\"} 1"),
        "{text}"
    );
}

#[test]
fn first_load_with_errors_is_not_ready_unless_partial_loads_are_allowed() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("good.yaml"), ns_doc(&["a", "b"])).expect("write");
    std::fs::write(dir.path().join("bad.yaml"), "kind: [unclosed").expect("write");
    std::fs::write(
        dir.path().join("orphan.yaml"),
        "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: NoSuchKind\nmetadata: {name: x}\n",
    )
    .expect("write");
    let metrics = Metrics::new();

    let strict = SnapshotStore::default();
    let src = source(dir.path(), FilePolicy::default());
    assert_eq!(src.reload(&strict, &metrics), Reload::NotReady);
    assert!(!strict.is_loaded(), "nothing serves, /readyz stays false");
    // Retried at every poll: the same refusals are counted once.
    assert_eq!(src.reload(&strict, &metrics), Reload::NotReady);
    let text = metrics.encode();
    assert!(
        text.contains("portcullis_policy_reload_errors_total 1"),
        "{text}"
    );
    assert!(text.contains("portcullis_policy_refusals_total{kind=\"file\",reason=\"parse\"} 1"));
    assert!(text.contains(
        "portcullis_policy_refusals_total{kind=\"constraint\",reason=\"missing_template\"} 1"
    ));

    let partial = SnapshotStore::default();
    let src = source(
        dir.path(),
        FilePolicy {
            allow_partial_load: true,
            ..FilePolicy::default()
        },
    );
    assert_eq!(src.reload(&partial, &metrics), Reload::Partial);
    assert_eq!(partial.load().namespaces.len(), 2);
    // Later changes to the good files take effect though the broken ones stay broken.
    std::fs::write(dir.path().join("good.yaml"), ns_doc(&["a"])).expect("write");
    assert_eq!(src.reload(&partial, &metrics), Reload::Partial);
    assert_eq!(partial.load().namespaces.len(), 1);
    assert_eq!(partial.load().refused.len(), 2, "bad.yaml and the orphan");

    // Once the directory is fixed, the strict source becomes ready.
    std::fs::remove_file(dir.path().join("bad.yaml")).expect("rm");
    std::fs::remove_file(dir.path().join("orphan.yaml")).expect("rm");
    let src = source(dir.path(), FilePolicy::default());
    assert_eq!(src.reload(&strict, &metrics), Reload::Published);
    assert!(strict.is_loaded());
}

#[test]
fn an_emptied_file_keeps_its_last_good_content_until_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    repo_policy(dir.path());
    let store = SnapshotStore::default();
    let metrics = Metrics::new();
    let src = source(dir.path(), FilePolicy::default());
    assert_eq!(src.reload(&store, &metrics), Reload::Published);
    assert_eq!(store.load().constraints.len(), 1);

    // Truncated, as `cp` and `>` do before writing.
    std::fs::write(dir.path().join("constraint.yaml"), "").expect("truncate");
    assert_eq!(src.reload(&store, &metrics), Reload::Published);
    assert_eq!(store.load().constraints.len(), 1, "still enforced");
    std::fs::write(dir.path().join("constraint.yaml"), "  \n\n").expect("whitespace");
    assert_eq!(src.reload(&store, &metrics), Reload::Published);
    assert_eq!(store.load().constraints.len(), 1, "whitespace is empty too");
}

#[test]
fn removing_every_constraint_is_held_until_stable() {
    let dir = tempfile::tempdir().expect("tempdir");
    repo_policy(dir.path());
    let store = SnapshotStore::default();
    let metrics = Metrics::new();
    let hold = Duration::from_millis(300);
    let src = source(
        dir.path(),
        FilePolicy {
            removal_hold: hold,
            ..FilePolicy::default()
        },
    );
    assert_eq!(src.reload(&store, &metrics), Reload::Published);
    std::fs::remove_file(dir.path().join("constraint.yaml")).expect("rm");
    assert_eq!(src.reload(&store, &metrics), Reload::Held);
    assert_eq!(
        store.load().constraints.len(),
        1,
        "still enforced while held"
    );
    // The file comes back (a directory emptied and refilled): the hold ends unused.
    repo_policy(dir.path());
    assert_eq!(src.reload(&store, &metrics), Reload::Published);
    std::fs::remove_file(dir.path().join("constraint.yaml")).expect("rm");
    assert_eq!(src.reload(&store, &metrics), Reload::Held);
    std::thread::sleep(hold + Duration::from_millis(50));
    assert_eq!(src.reload(&store, &metrics), Reload::Published);
    assert!(
        store.load().constraints.is_empty(),
        "stable removal applies"
    );
}

/// A template whose rule does not compile.
const BROKEN_TEMPLATE: &str = "apiVersion: templates.gatekeeper.sh/v1\nkind: ConstraintTemplate\nmetadata: {name: k8sallowedrepos}\nspec:\n  crd: {spec: {names: {kind: K8sAllowedRepos}}}\n  targets:\n  - target: admission.k8s.gatekeeper.sh\n    rego: |\n      package k8sallowedrepos\n      violation[{\"msg\": msg}] {\n        msg :=\n";

#[test]
fn a_broken_template_keeps_serving_its_last_good_version_while_others_update() {
    let dir = tempfile::tempdir().expect("tempdir");
    repo_policy(dir.path());
    std::fs::write(dir.path().join("ns.yaml"), ns_doc(&["a"])).expect("write");
    let store = SnapshotStore::default();
    let metrics = Metrics::new();
    let src = source(dir.path(), FilePolicy::default());
    assert_eq!(src.reload(&store, &metrics), Reload::Published);
    let program = store.load().templates["K8sAllowedRepos"].program.clone();

    std::fs::write(dir.path().join("template.yaml"), BROKEN_TEMPLATE).expect("write");
    std::fs::write(dir.path().join("ns.yaml"), ns_doc(&["a", "b"])).expect("write");
    assert_eq!(src.reload(&store, &metrics), Reload::Partial);
    let snap = store.load();
    assert_eq!(snap.namespaces.len(), 2, "the good change applies");
    assert!(Arc::ptr_eq(
        &snap.templates["K8sAllowedRepos"].program,
        &program
    ));
    assert_eq!(snap.constraints.len(), 1, "its constraint still binds");
    assert_eq!(snap.refused.len(), 1);
    assert!(snap.refused[0].kept);
    let text = metrics.encode();
    for series in [
        "portcullis_policy_objects{kind=\"template\",state=\"loaded\"} 1",
        "portcullis_policy_objects{kind=\"template\",state=\"refused\"} 1",
        "portcullis_policy_refusals_total{kind=\"template\",reason=\"compile\"} 1",
    ] {
        assert!(text.contains(series), "{series}\n{text}");
    }
    // The same refusal on the next reload is not counted again.
    std::fs::write(dir.path().join("ns.yaml"), ns_doc(&["a"])).expect("write");
    assert_eq!(src.reload(&store, &metrics), Reload::Partial);
    assert!(metrics
        .encode()
        .contains("portcullis_policy_refusals_total{kind=\"template\",reason=\"compile\"} 1"));
    // Fixed: nothing refused any more.
    repo_policy(dir.path());
    assert_eq!(src.reload(&store, &metrics), Reload::Published);
    assert!(metrics
        .encode()
        .contains("portcullis_policy_objects{kind=\"template\",state=\"refused\"} 0"));
}

#[test]
fn a_file_rewritten_broken_keeps_the_objects_it_provided_and_deleting_it_removes_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    repo_policy(dir.path());
    std::fs::write(dir.path().join("ns.yaml"), ns_doc(&["a"])).expect("write");
    let store = SnapshotStore::default();
    let metrics = Metrics::new();
    let src = source(
        dir.path(),
        FilePolicy {
            removal_hold: Duration::ZERO,
            ..FilePolicy::default()
        },
    );
    assert_eq!(src.reload(&store, &metrics), Reload::Published);
    let constraint = dir.path().join("constraint.yaml");
    for broken in [
        "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sAllowedRepos\nmetadata: {name: [unclosed\n",
        // Indentation lost: the name moved out of metadata.
        "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sAllowedRepos\nmetadata:\nname: trusted-registries\nspec: {parameters: {repos: [x/]}}\n",
        "metadata: {name: trusted-registries}\nspec: {}\n",
    ] {
        std::fs::write(&constraint, broken).expect("write");
        assert_eq!(src.reload(&store, &metrics), Reload::Partial, "{broken}");
        let snap = store.load();
        assert_eq!(snap.constraints.len(), 1, "kept: {broken}");
        assert_eq!(snap.refused[0].kind, crate::policy::ObjectKind::File);
        assert!(snap.refused[0].kept);
    }
    // Too large to read: refused alone, the directory still loads.
    let f = std::fs::File::create(&constraint).expect("create");
    f.set_len(settle::MAX_FILE_BYTES + 1).expect("grow");
    std::fs::write(dir.path().join("ns.yaml"), ns_doc(&["a", "b"])).expect("write");
    assert_eq!(src.reload(&store, &metrics), Reload::Partial);
    assert_eq!(store.load().constraints.len(), 1, "kept: too large");
    assert_eq!(store.load().namespaces.len(), 2, "the other file updates");
    std::fs::remove_file(&constraint).expect("rm");
    assert_eq!(src.reload(&store, &metrics), Reload::Published);
    assert!(store.load().constraints.is_empty(), "deleted on purpose");
}
