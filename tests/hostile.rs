//! Hostile kubeconfigs and servers: berth exits 2 with a message saying what went wrong, and
//! never panics, hangs, or prints a credential.

use crate::support::small;
use crate::support::*;
use berth_testserver::Fault;
use proptest::prelude::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// A kubeconfig with context `berth-test`: cluster `server` (and `extra` cluster fields), and
/// user `user` (YAML lines under `user:`, indented four spaces).
fn kubeconfig(server: &str, cluster_extra: &str, user: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\n{cluster_extra}contexts:\n- name: berth-test\n  context:\n    cluster: c\n    user: u\ncurrent-context: berth-test\nusers:\n- name: u\n  user:\n{user}"
    )
}

/// An executable shell script `name` in `dir`.
fn script(dir: &Path, name: &str, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_str().unwrap().to_string()
}

/// A user running the exec plugin `command` with a secret argument and a secret environment.
fn exec_user(command: &str, secret: &str) -> String {
    format!(
        "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: {command}\n      args: [\"--password={secret}\"]\n      env:\n      - name: PLUGIN_SECRET\n        value: \"{secret}\"\n      interactiveMode: Never\n"
    )
}

/// `berth diff` with `kubeconfig` (written to `dir`) and `args`: it fails with exit 2, each
/// of `needles` in stderr, no panic, and `secret` nowhere.
#[track_caller]
fn diff_fails(dir: &Path, kubeconfig_text: &str, args: &[&str], secret: &str, needles: &[&str]) {
    let path = dir.join("kubeconfig");
    std::fs::write(&path, kubeconfig_text).unwrap();
    let repo = small::repo();
    let mut all = vec!["--render"];
    all.extend_from_slice(args);
    let run = run(&mut berth_against(
        &path,
        repo.path(),
        &["diff", "-c", "test"],
        &all,
    ));
    run.fails_with(needles);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    for text in [&run.stdout, &run.stderr] {
        assert!(
            !text.contains(secret),
            "the secret {secret:?} leaked:\n{text}"
        );
    }
}

/// The unreachable address of a port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Every way a kubeconfig can be hostile, with `secret` in the credential positions, and what
/// the message must say.
fn hostile_cases(dir: &Path, secret: &str) -> Vec<(String, Vec<&'static str>)> {
    let closed = format!("http://127.0.0.1:{}", closed_port());
    let token = format!("    token: \"{secret}\"\n");
    let truncated = script(
        dir,
        "truncated",
        &format!(
            "printf '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"{secret}'"
        ),
    );
    let failing = script(dir, "failing", "exit 3");
    let garbage = script(dir, "garbage", "head -c 300 /dev/urandom");
    vec![
        // A YAML error on the line after the token: no snippet of the source.
        (
            kubeconfig(&closed, "", &format!("{token}    extra: [\n")),
            vec!["kubeconfig:", "not valid YAML"],
        ),
        (
            kubeconfig(&closed, "", &format!("    token: \"{secret}\\nmore\"\n")),
            vec!["line break"],
        ),
        (
            kubeconfig(
                &format!("http://admin:{secret}@127.0.0.1:{}", closed_port()),
                "",
                &token,
            ),
            vec!["cannot reach", "***@127.0.0.1"],
        ),
        (
            kubeconfig(
                &closed,
                &format!("    proxy-url: http://proxy:{secret}@127.0.0.1:1\n"),
                &token,
            ),
            vec!["kubeconfig"],
        ),
        (
            kubeconfig("http://[::1", "", &token),
            vec!["not a valid URL"],
        ),
        (
            kubeconfig(
                &closed,
                "    certificate-authority-data: \"%%not base64%%\"\n",
                &token,
            ),
            vec!["certificate-authority-data", "base64"],
        ),
        (
            kubeconfig(
                &closed,
                "",
                &format!(
                    "    client-certificate-data: \"%%\"\n    client-key-data: \"{secret}%%\"\n"
                ),
            ),
            vec!["base64"],
        ),
        (
            kubeconfig(&closed, "", &exec_user(&truncated, secret)),
            vec![
                "exec credential plugin",
                "truncated",
                "no usable ExecCredential",
            ],
        ),
        (
            kubeconfig(&closed, "", &exec_user(&failing, secret)),
            vec!["exec credential plugin", "failing", "failed"],
        ),
        (
            kubeconfig(&closed, "", &exec_user(&garbage, secret)),
            vec!["no usable ExecCredential"],
        ),
        (
            kubeconfig(&closed, "", &exec_user("/nonexistent/berth-plugin", secret)),
            vec!["cannot run the exec credential plugin"],
        ),
    ]
}

#[test]
fn hostile_kubeconfigs_fail_clearly_without_panic_or_leak() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "s3cr3t-TOKEN-value";
    for (text, needles) in hostile_cases(dir.path(), secret) {
        diff_fails(dir.path(), &text, &[], secret, &needles);
    }
    // A kubeconfig that is not there.
    let repo = small::repo();
    run(&mut berth_against(
        &dir.path().join("missing"),
        repo.path(),
        &["diff", "-c", "test"],
        &["--render"],
    ))
    .fails_with(&["missing", "cannot read the kubeconfig"]);
}

#[test]
fn an_exec_plugin_that_never_returns_is_stopped_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = script(dir.path(), "hangs", "exec sleep 600");
    let started = Instant::now();
    diff_fails(
        dir.path(),
        &kubeconfig("http://127.0.0.1:1", "", &exec_user(&plugin, "s3cr3t-arg")),
        &["--exec-timeout", "1s"],
        "s3cr3t-arg",
        &[
            "exec credential plugin",
            "hangs",
            "within 1s",
            "--exec-timeout",
        ],
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_server_that_accepts_and_never_answers_times_out_naming_the_request() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accept and hold every connection, answering nothing, for at most a minute.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        listener.set_nonblocking(true).unwrap();
        let until = Instant::now() + Duration::from_secs(60);
        while Instant::now() < until {
            if let Ok((stream, _)) = listener.accept() {
                held.push(stream);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    diff_fails(
        dir.path(),
        &kubeconfig(
            &format!("http://127.0.0.1:{port}"),
            "",
            "    token: abcdef\n",
        ),
        &["--request-timeout", "1s"],
        "abcdef",
        &[
            &format!("127.0.0.1:{port}"),
            "did not answer within 1s",
            "--request-timeout",
        ],
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_server_refusing_discovery_is_reported_with_its_answer() {
    for (code, words) in [
        (401, "refused the credentials (401 Unauthorized)"),
        (403, "forbids discovery (403 Forbidden)"),
        (500, "answered 500"),
    ] {
        let live = TestCluster::start();
        live.server
            .inject(Fault::status(code).on_path_prefix("/api"));
        let repo = small::repo();
        let run = live.diff(repo.path(), &["--render"]);
        run.fails_with(&[words]);
        assert!(!run.stderr.contains("cannot reach"), "{}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// Random tokens and passwords through every kubeconfig and connection error path.
    #[test]
    fn no_credential_reaches_the_output(secret in "[A-Za-z0-9._~+/=-]{12,40}") {
        let dir = tempfile::tempdir().unwrap();
        for (text, _) in hostile_cases(dir.path(), &secret) {
            let path = dir.path().join("kubeconfig");
            std::fs::write(&path, &text).unwrap();
            let repo = small::repo();
            let run = run(&mut berth_against(&path, repo.path(), &["diff", "-c", "test"], &["--render"]));
            prop_assert_eq!(run.code, 2, "{}", run.stderr);
            prop_assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
            prop_assert!(!run.stderr.contains(&secret), "{}", run.stderr);
            prop_assert!(!run.stdout.contains(&secret), "{}", run.stdout);
        }
    }
}
