//! External Secrets (`secrets:` in berth.yaml): a stub in git, values read at diff and apply time
//! from env, files, commands and sops, and never shown.

use crate::support::*;
use base64::Engine;
use proptest::prelude::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// An app `web` in namespace `demo` with a ConfigMap and a Secret `db` whose keys come from an
/// env variable, a file outside the repository and a command printing YAML (two keys of it,
/// read once).
fn berth_yaml(outside: &Path) -> String {
    let dir = outside.display();
    format!(
        "defaults:\n  namespace: demo\napps:\n  web:\n    driver: manifests\n    path: web\n    secrets:\n      db:\n        keys:\n          password: {{env: TEST_DB_PASSWORD}}\n          cert: {{file: {dir}/cert.pem}}\n          user: {{command: [sh, {dir}/creds.sh], format: yaml}}\n          token: {{command: [sh, {dir}/creds.sh], format: yaml, key: apiToken}}\nchannels:\n  test: {{}}\n"
    )
}

/// The outside directory: the mounted file, and the command (which counts its runs).
fn outside(cert: &str, user: &str, token: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_outside(dir.path(), cert, user, token);
    dir
}

fn write_outside(dir: &Path, cert: &str, user: &str, token: &str) {
    std::fs::write(dir.join("cert.pem"), cert).unwrap();
    std::fs::write(
        dir.join("creds.yaml"),
        format!("user: {user}\napiToken: {token}\n"),
    )
    .unwrap();
    let script = format!("echo run >> {0}/runs\ncat {0}/creds.yaml\n", dir.display());
    std::fs::write(dir.join("creds.sh"), script).unwrap();
}

fn setup(outside: &Path) -> Release {
    Release::new(GitRepos::with_files(&[
        ("berth.yaml", &berth_yaml(outside)),
        ("web/ns.yaml", small::NAMESPACE),
        ("web/config.yaml", small::CONFIG),
    ]))
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Every blob of every object of the repository (all refs, notes included), as text.
fn every_blob(repo: &Path) -> String {
    let objects = git(repo, &["rev-list", "--objects", "--all"]);
    let mut text = String::new();
    for line in objects.lines() {
        let id = line.split(' ').next().unwrap();
        if git(repo, &["cat-file", "-t", id]).trim() == "blob" {
            text.push_str(&git(repo, &["cat-file", "-p", id]));
        }
    }
    text
}

fn assert_hidden(text: &str, values: &[&str], what: &str) {
    for value in values {
        assert!(!text.contains(value), "{what} shows {value}:\n{text}");
        assert!(
            !text.contains(&b64(value)),
            "{what} shows {value} in base64:\n{text}"
        );
    }
}

fn secret(setup: &Release) -> Value {
    setup
        .cluster
        .server
        .object("", "secrets", "demo", "db")
        .expect("the Secret was applied")
}

fn data(secret: &Value, key: &str) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(secret["data"][key].as_str().unwrap())
        .unwrap();
    String::from_utf8(bytes).unwrap()
}

#[test]
fn each_source_fills_the_secret_at_apply_and_git_holds_only_the_stub() {
    let out = outside("cert-VALUE-1", "app-user-7", "tok-VALUE-3");
    let setup = setup(out.path());
    let values = ["pw-VALUE-9", "cert-VALUE-1", "app-user-7", "tok-VALUE-3"];

    // The candidate holds the stub: metadata and key names, no value.
    let stub = setup
        .repos
        .git(&["show", "releases/test:demo/Secret/db.yaml"]);
    assert!(
        stub.contains("berth.dev/secret-keys: cert,password,token,user"),
        "{stub}"
    );
    assert!(!stub.contains("\ndata:"), "{stub}");

    let run = run(setup
        .apply_command(&["-o", "json"])
        .env("TEST_DB_PASSWORD", "pw-VALUE-9"));
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let secret = secret(&setup);
    assert_eq!(data(&secret, "password"), "pw-VALUE-9");
    assert_eq!(data(&secret, "cert"), "cert-VALUE-1");
    assert_eq!(data(&secret, "user"), "app-user-7");
    assert_eq!(data(&secret, "token"), "tok-VALUE-3");
    assert_eq!(secret["type"], "Opaque");
    // Two keys of one command: it ran once.
    let runs = std::fs::read_to_string(out.path().join("runs")).unwrap();
    assert_eq!(runs.lines().count(), 1, "{runs}");
    // A drift check reads no source: the stub's values are not drift.
    let drift = crate::support::run(&mut setup.cluster.berth_command(
        &setup.repos.work(),
        &["drift", "-c", "test"],
        &[],
    ));
    assert_eq!(drift.code, 0, "{}\n{}", drift.stdout, drift.stderr);

    let record = setup.record().to_string();
    let blobs = every_blob(&setup.repos.work());
    assert!(
        blobs.contains("berth apply test"),
        "the note is searched too"
    );
    for (what, text) in [
        ("stdout", &run.stdout),
        ("stderr", &run.stderr),
        ("record", &record),
        ("git", &blobs),
    ] {
        assert_hidden(text, &values, what);
    }
}

#[test]
fn a_changed_value_shows_as_changed_and_reapplies_only_that_secret() {
    let out = outside("cert-VALUE-1", "app-user-7", "tok-VALUE-3");
    let setup = setup(out.path());
    let apply = |password: &str| {
        run(setup
            .apply_command(&["-o", "json"])
            .env("TEST_DB_PASSWORD", password))
    };
    assert_eq!(apply("pw-OLD-1234").code, 0);

    // Rotated outside: the same release now differs in one key of the Secret.
    let diff = run(setup
        .cluster
        .berth_command(
            &setup.repos.work(),
            &["diff", "-c", "test", "--tree", "releases/test"],
            &[],
        )
        .env("TEST_DB_PASSWORD", "pw-NEW-5678"));
    assert_eq!(diff.code, 1, "{}\n{}", diff.stdout, diff.stderr);
    assert!(diff.stdout.contains("*** (before)"), "{}", diff.stdout);
    assert!(diff.stdout.contains("*** (after)"), "{}", diff.stdout);
    assert!(
        !diff.stdout.contains("web-config"),
        "only the Secret changed: {}",
        diff.stdout
    );
    assert_hidden(
        &format!("{}{}", diff.stdout, diff.stderr),
        &["pw-OLD-1234", "pw-NEW-5678", "cert-VALUE-1"],
        "diff",
    );

    let before = setup.cluster.server.requests().len();
    let run = apply("pw-NEW-5678");
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["summary"]["updated"], 1, "{report:#}");
    let writes: Vec<String> = setup.cluster.server.requests()[before..]
        .iter()
        .filter(|r| r.method == "PATCH" && !r.is_dry_run() && r.path.contains("/namespaces/demo/"))
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(writes, ["/api/v1/namespaces/demo/secrets/db"], "{writes:?}");
    assert_eq!(data(&secret(&setup), "password"), "pw-NEW-5678");
    assert_hidden(
        &format!("{}{}", run.stdout, run.stderr),
        &["pw-OLD-1234", "pw-NEW-5678"],
        "apply",
    );
}

#[test]
fn a_failing_source_stops_before_any_request_naming_secret_key_and_source() {
    let out = outside("cert-VALUE-1", "app-user-7", "tok-VALUE-3");
    let setup = setup(out.path());
    // The command fails, echoing a value it was given to its stderr.
    std::fs::write(
        out.path().join("creds.sh"),
        "echo \"cannot log in with pw-VALUE-9\" >&2\nexit 3\n",
    )
    .unwrap();
    let failed = run(setup
        .apply_command(&[])
        .env("TEST_DB_PASSWORD", "pw-VALUE-9"));
    failed.fails_with(&[
        "Secret demo/db",
        "key `user`",
        "command `sh ",
        "berth.yaml:",
        "hint:",
    ]);
    assert!(
        failed.stderr.contains("cannot log in with ***"),
        "{}",
        failed.stderr
    );
    assert_hidden(&failed.stderr, &["pw-VALUE-9"], "the error");
    assert!(
        setup.cluster.server.requests().is_empty(),
        "a request was made"
    );

    // A missing variable, a missing file: both named, still nothing asked.
    std::fs::remove_file(out.path().join("cert.pem")).unwrap();
    let failed = setup.apply(&[]);
    failed.fails_with(&[
        "key `password` from env TEST_DB_PASSWORD",
        "not set",
        "key `cert` from file",
    ]);
    let diff = setup.cluster.diff(&setup.repos.work(), &[]);
    diff.fails_with(&["key `password` from env TEST_DB_PASSWORD"]);
    assert!(
        setup.cluster.server.requests().is_empty(),
        "a request was made"
    );
}

#[test]
fn sops_files_are_decrypted_when_sops_is_installed() {
    let found = |tool: &str| Command::new(tool).arg("--version").output().is_ok();
    if !found("sops") || !found("age-keygen") {
        eprintln!("skipped: sops and age-keygen are not installed (see the README)");
        return;
    }
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("key.txt");
    let generated = Command::new("age-keygen")
        .arg("-o")
        .arg(&key_file)
        .output()
        .unwrap();
    let public = String::from_utf8_lossy(&generated.stderr)
        .split_whitespace()
        .last()
        .unwrap()
        .to_string();
    let plain = keys.path().join("db.yaml");
    std::fs::write(&plain, "password: sops-VALUE-42\n").unwrap();
    let encrypted = Command::new("sops")
        .args(["--encrypt", "--age", &public])
        .arg(&plain)
        .output()
        .unwrap();
    assert!(encrypted.status.success());
    let setup = Release::new(GitRepos::with_files(&[
        (
            "berth.yaml",
            "defaults:\n  namespace: demo\napps:\n  web:\n    driver: manifests\n    path: web\n    secrets:\n      db:\n        keys:\n          password: {sops: secrets/db.enc.yaml}\nchannels:\n  test: {}\n",
        ),
        ("web/ns.yaml", small::NAMESPACE),
        (
            "secrets/db.enc.yaml",
            &String::from_utf8_lossy(&encrypted.stdout),
        ),
    ]));
    let run = run(setup.apply_command(&[]).env("SOPS_AGE_KEY_FILE", &key_file));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(data(&secret(&setup), "password"), "sops-VALUE-42");
    assert_hidden(&every_blob(&setup.repos.work()), &["sops-VALUE-42"], "git");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4, ..ProptestConfig::default() })]

    /// Whatever the values, none reaches an output, the record, a note or a git object.
    #[test]
    fn random_values_never_appear(
        password in "[A-Za-z0-9+/=!@#%^&*()_-]{12,40}",
        token in "[A-Za-z0-9]{12,40}",
    ) {
        let out = outside("cert-VALUE-1", "app-user-7", &token);
        let setup = setup(out.path());
        let mut outputs = String::new();
        for args in [&["diff", "-c", "test", "-o", "json"][..], &["apply", "-c", "test", "-o", "json"][..]] {
            let run = run(setup
                .cluster
                .berth_command(&setup.repos.work(), args, &[])
                .env("TEST_DB_PASSWORD", &password));
            prop_assert!(run.code < 2, "{}", run.stderr);
            outputs.push_str(&run.stdout);
            outputs.push_str(&run.stderr);
        }
        prop_assert_eq!(data(&secret(&setup), "password"), password.clone());
        outputs.push_str(&setup.record().to_string());
        outputs.push_str(&every_blob(&setup.repos.work()));
        assert_hidden(&outputs, &[&password, &token], "output");
    }
}

/// `examples/drivers` with the metrics chart's `auth.password` from `$METRICS_PASSWORD`, in
/// the test channel from `$TEST_METRICS_PASSWORD` (`secretValues:` and its channel variant),
/// the test channel releasing metrics only; the helm stand-in renders it.
fn helm_secret_values() -> (GitRepos, TestCluster) {
    let repos = GitRepos::new("drivers");
    repos.edit(
        "berth.yaml",
        "      - values/metrics-{channel}.yaml\n",
        "      - values/metrics-{channel}.yaml\n    secretValues:\n      auth.password: {env: METRICS_PASSWORD}\n    channels:\n      test:\n        secretValues:\n          auth.password: {env: TEST_METRICS_PASSWORD}\n",
    );
    repos.edit(
        "berth.yaml",
        "    values: [channels/test.yaml]\n",
        "    values: [channels/test.yaml]\n    apps: [metrics]\n",
    );
    repos.commit_all("metrics: password from the environment");
    repos.git(&["checkout", "-q", "-b", "feature/x"]);
    let stand_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/helm/helm");
    run(berth_command()
        .current_dir(repos.work())
        .env("BERTH_HELM", stand_in)
        .args(["candidate", "-c", "test"]))
    .succeeds();
    repos.git(&["branch", "-f", "releases/test", "candidates/test/feature/x"]);
    let cluster = TestCluster::start();
    // The chart's namespace is not the chart's to make.
    cluster.namespace("monitoring");
    (repos, cluster)
}

#[test]
fn helm_secret_values_reach_only_the_cluster_and_git_holds_a_placeholder() {
    let (repos, cluster) = helm_secret_values();
    let placeholder = "berthsecret290a98a4d47f9ff7cfdd408d";
    let committed = repos.git(&["show", "releases/test:monitoring/Secret/metrics-auth.yaml"]);
    assert!(committed.contains(&b64(placeholder)), "{committed}");

    let password = "pw-HELM-VALUE-41";
    let apply = run(cluster
        .berth_command(&repos.work(), &["apply", "-c", "test"], &["-o", "json"])
        .env("TEST_METRICS_PASSWORD", password)
        .env("METRICS_PASSWORD", "other-VALUE"));
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    let secret = cluster
        .server
        .object("", "secrets", "monitoring", "metrics-auth")
        .expect("the Secret was applied");
    assert_eq!(data(&secret, "password"), password);
    assert_eq!(
        data(&secret, "url"),
        format!("amqp://metrics:{password}@queue.queue.svc:5672")
    );

    let drift = run(&mut cluster.berth_command(&repos.work(), &["drift", "-c", "test"], &[]));
    assert_eq!(drift.code, 0, "{}\n{}", drift.stdout, drift.stderr);

    // A rotated value: a diff shows the Secret's keys changed, masked.
    let rotated = "pw-HELM-VALUE-42";
    let diff = run(cluster
        .berth_command(&repos.work(), &["diff", "-c", "test"], &[])
        .env("TEST_METRICS_PASSWORD", rotated));
    assert_eq!(diff.code, 1, "{}\n{}", diff.stdout, diff.stderr);
    assert!(diff.stdout.contains("*** (after)"), "{}", diff.stdout);
    let blobs = every_blob(&repos.work());
    for (what, text) in [
        ("apply stdout", &apply.stdout),
        ("apply stderr", &apply.stderr),
        ("diff", &diff.stdout),
        ("diff stderr", &diff.stderr),
        ("git", &blobs),
    ] {
        assert_hidden(text, &[password, rotated, "HELM-VALUE"], what);
    }

    // Unset, it stops the apply before any write, naming the app, the value and the source.
    cluster.server.reset_counters();
    let unset = run(&mut cluster.berth_command(&repos.work(), &["apply", "-c", "test"], &[]));
    unset.fails_with(&[
        "app `metrics`: secret value `auth.password` from env TEST_METRICS_PASSWORD",
    ]);
    assert!(cluster.server.requests().is_empty(), "a request was made");
}

#[test]
fn a_helm_secret_value_no_secret_holds_or_one_of_another_driver_is_refused() {
    let repo = example_copy("drivers");
    replace_in(
        repo.path(),
        "berth.yaml",
        "      - values/metrics-{channel}.yaml\n",
        "      - values/metrics-{channel}.yaml\n    secretValues:\n      auth.password: {env: METRICS_PASSWORD}\n      auth.user: {env: METRICS_USER}\n",
    );
    let stand_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/helm/helm");
    let render = || {
        run(berth_command()
            .current_dir(repo.path())
            .env("BERTH_HELM", &stand_in)
            .args(["render", "-c", "test", "-a", "metrics"]))
    };
    // The chart never uses `auth.user`: its value would silently go nowhere.
    render().fails_with(&[
        "berth.yaml:",
        "secret value `auth.user` lands in no Secret",
        "remove it from `secretValues:`",
    ]);

    replace_in(
        repo.path(),
        "berth.yaml",
        "      auth.user: {env: METRICS_USER}\n",
        "",
    );
    render().succeeds();
    replace_in(
        repo.path(),
        "berth.yaml",
        "    namespace: queue\n",
        "    namespace: queue\n    secretValues:\n      token: {env: QUEUE_TOKEN}\n",
    );
    render().fails_with(&[
        "app `queue`: `secretValues` applies only to the helm driver",
        "`secrets:`",
    ]);
}
