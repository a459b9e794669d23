//! The generated repository both benchmarks render: 200 template apps × 25 objects.

// Each benchmark uses part of this module.
#![allow(dead_code)]

use futures_util::StreamExt;
use kube::Api;
use kube::api::DynamicObject;
use serde_json::Value;
use std::future::Future;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Run git in `dir` with a fixed identity.
pub fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?}");
}

pub const APPS: usize = 200;
pub const OBJECTS_PER_APP: usize = 25;

/// 200 apps, each a template directory rendering 25 objects of everyday kinds.
pub fn generate(root: &Path) {
    generate_sized(root, APPS);
}

/// `apps` template apps of 25 objects each, in namespaces `ns-0` … `ns-19`.
pub fn generate_sized(root: &Path, apps: usize) {
    let mut config = String::from("apps:\n");
    for app in 0..apps {
        let name = format!("app-{app:03}");
        config.push_str(&format!(
            "  {name}:\n    driver: template\n    path: apps/{name}\n    namespace: ns-{}\n    values: [apps/{name}/values.yaml]\n",
            app % 20
        ));
        let dir = root.join("apps").join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("values.yaml"), format!("replicas: {}\nimage: registry.example/{name}:1.{app}.0\nport: 8080\nenv: {{LOG_LEVEL: info, REGION: eu-west-1}}\n", app % 5 + 1)).unwrap();
        std::fs::write(dir.join("objects.yaml.j2"), TEMPLATE).unwrap();
    }
    config.push_str("channels:\n  test:\n    images:\n      - name: registry.example/app-007\n        newTag: pinned\n");
    std::fs::write(root.join("berth.yaml"), config).unwrap();
}

/// 25 objects: 5 each of Deployment, Service, ConfigMap, ServiceAccount and Role.
const TEMPLATE: &str = r#"{% for i in range(5) %}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ app }}-{{ i }}
  annotations:
    berth.dev/part: "{{ i }}"
spec:
  replicas: {{ values.replicas }}
  selector:
    matchLabels: {app.kubernetes.io/name: {{ app }}-{{ i }}}
  template:
    metadata:
      labels: {app.kubernetes.io/name: {{ app }}-{{ i }}}
    spec:
      containers:
        - name: main
          image: {{ values.image }}
          ports: [{name: http, containerPort: {{ values.port }}}]
          env:
{% for k, v in values.env | items %}
            - {name: {{ k }}, value: {{ v | quote }}}
{% endfor %}
          resources:
            requests: {cpu: 100m, memory: 128Mi}
            limits: {memory: 256Mi}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ app }}-{{ i }}
spec:
  selector: {app.kubernetes.io/name: {{ app }}-{{ i }}}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ app }}-{{ i }}-config
data:
  settings.toml: |
    name = "{{ app }}"
    index = {{ i }}
    region = "{{ values.env.REGION }}"
  enabled: "yes"
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ app }}-{{ i }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ app }}-{{ i }}
rules:
  - apiGroups: [""]
    resources: [configmaps]
    verbs: [get, list, watch]
{% endfor %}
"#;

/// One run of a child: wall time and its peak RSS in MiB. The peak is the child's own `VmHWM`,
/// sampled every 5 ms on a thread of its own while this one waits for the exit (timed as it
/// happens): wait4's `ru_maxrss` would be this process's (the test server's) peak, which Linux
/// carries across the child's fork and exec.
pub fn measure(mut command: Command, expect: i32) -> (Duration, f64) {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("runs");
    let status_file = format!("/proc/{}/status", child.id());
    let done = AtomicBool::new(false);
    let peak_kib = AtomicU64::new(0);
    let (status, took) = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                let hwm = std::fs::read_to_string(&status_file).ok().and_then(|text| {
                    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
                    line.split_whitespace().nth(1)?.parse::<u64>().ok()
                });
                peak_kib.fetch_max(hwm.unwrap_or(0), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        let status = child.wait().expect("waits");
        let took = started.elapsed();
        done.store(true, Ordering::Relaxed);
        (status, took)
    });
    assert_eq!(status.code(), Some(expect), "{command:?}");
    (took, peak_kib.into_inner() as f64 / 1024.0)
}

pub struct Row {
    pub name: String,
    pub times: Vec<Duration>,
    pub peak_mib: f64,
    pub requests: usize,
}

impl Row {
    pub fn median(&self) -> Duration {
        let mut times = self.times.clone();
        times.sort();
        times[times.len() / 2]
    }

    /// Its table cells: name, median, ratio to `base`, requests, peak RSS.
    pub fn cells(&self, base: Duration) -> String {
        let median = self.median().as_secs_f64();
        let peak = if self.peak_mib > 0.0 {
            format!("{:.0} MiB", self.peak_mib)
        } else {
            "(in process)".to_string()
        };
        format!(
            "{} | {median:.2} s | {:.1}× | {} | {peak}",
            self.name,
            median / base.as_secs_f64(),
            self.requests
        )
    }
}

/// A row named `name` with no runs yet.
pub fn row(name: &str, requests: usize) -> Row {
    Row {
        name: name.to_string(),
        times: Vec::new(),
        peak_mib: 0.0,
        requests,
    }
}

/// A number from the environment, else `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(default)
}

/// The sizes to run: 1,000 objects, and 5,000 with `BERTH_BENCH_BIG=1`; or the list in
/// `BERTH_BENCH_SIZES` (e.g. `5000`).
pub fn sizes() -> Vec<usize> {
    if let Ok(list) = std::env::var("BERTH_BENCH_SIZES") {
        return list
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect();
    }
    let mut sizes = vec![1000];
    if std::env::var_os("BERTH_BENCH_BIG").is_some() {
        sizes.push(5000);
    }
    sizes
}

/// How long `request` takes for every one of `objects`, 16 at once, with berth's own client
/// connected to the test server of `kubeconfig` (in process): the floors the benchmarks
/// compare berth with.
pub fn per_object<'a, F, R>(kubeconfig: &Path, objects: &'a [Value], request: F) -> Duration
where
    F: Fn(Api<DynamicObject>, &'a str, &'a Value) -> R,
    R: Future<Output = ()>,
{
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let cluster = berth::cluster::Cluster::connect(&berth::cluster::Target {
            kubeconfig: Some(kubeconfig),
            context: Some("berth-test"),
            timeouts: Default::default(),
            concurrency: 16,
        })
        .await
        .unwrap_or_else(|p| panic!("{p}"));
        let started = Instant::now();
        futures_util::stream::iter(objects)
            .map(|object| {
                let (resource, caps) = cluster
                    .resolve(
                        object["apiVersion"].as_str().unwrap(),
                        object["kind"].as_str().unwrap(),
                    )
                    .unwrap();
                let api = cluster.api(resource, caps, object["metadata"]["namespace"].as_str());
                request(api, object["metadata"]["name"].as_str().unwrap(), object)
            })
            .buffer_unordered(16)
            .collect::<Vec<()>>()
            .await;
        started.elapsed()
    })
}
