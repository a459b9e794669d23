//! A small source: one app `web` (manifests) in namespace `demo`, with a channel `test`.

use super::TestCluster;

pub const BERTH_YAML: &str = "defaults:\n  namespace: demo\napps:\n  web:\n    driver: manifests\n    path: web\nchannels:\n  test: {}\n";

pub const NAMESPACE: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n";

pub const CONFIG: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  greeting: hello\n";

pub const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector:\n    app: web\n  ports:\n    - port: 80\n      targetPort: 8080\n";

pub fn deployment(image: &str, replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: {replicas}
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
          image: {image}
          ports:
            - containerPort: 8080
"
    )
}

/// The Deployment, the ConfigMap and the Service of `web`, in a temporary directory.
pub fn repo() -> tempfile::TempDir {
    super::repo(&[
        ("berth.yaml", BERTH_YAML),
        ("web/deployment.yaml", &deployment("nginx:1.27", 2)),
        ("web/config.yaml", CONFIG),
        ("web/service.yaml", SERVICE),
    ])
}

/// [`repo`] live as rendered, in an existing namespace `demo`.
pub fn live() -> (TestCluster, tempfile::TempDir) {
    let cluster = TestCluster::start();
    let repo = repo();
    cluster.namespace("demo");
    cluster.seed_rendered(repo.path(), &[]);
    (cluster, repo)
}
