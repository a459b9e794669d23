//! `cargo bench --bench render`: render a generated repository of 200 template apps × 25 objects
//! and report berth's own time per phase (config, render + post-process, canonical tree, write).
//! Best and median of several runs; the first run warms the file cache.

use berth::render::{self, RenderedSet};
use berth::source::DirSource;
use berth::tree::RenderedTree;
use std::path::Path;
use std::time::{Duration, Instant};

const APPS: usize = 200;
const OBJECTS_PER_APP: usize = 25;
const RUNS: usize = 7;

fn runs() -> usize {
    std::env::var("BERTH_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(RUNS)
}

fn main() {
    let repo = tempfile::tempdir().expect("temp dir");
    generate(repo.path());
    let out = tempfile::tempdir().expect("temp dir");

    let mut phases: Vec<[Duration; 6]> = Vec::new();
    let mut objects = 0;
    let mut bytes = 0;
    for run in 0..=runs() {
        let start = Instant::now();
        let source = DirSource::new(repo.path());
        let config = berth::config::load(&repo.path().join("berth.yaml"), &source).expect("config");
        let loaded = Instant::now();
        let channels = config.select_channels(&["test".into()]).unwrap();
        let sets: Vec<RenderedSet> =
            render::render(&config, &channels, &source, &render::Options::default())
                .expect("render");
        let rendered = Instant::now();
        let tree = RenderedTree::build(&sets[0]);
        let built = Instant::now();
        tree.write_to(&out.path().join(format!("fresh-{run}")))
            .expect("write");
        let fresh = Instant::now();
        tree.write_to(&out.path().join("test")).expect("write");
        let written = Instant::now();
        objects = sets[0].objects.len();
        bytes = tree.files.values().map(Vec::len).sum::<usize>();
        phases.push([
            loaded - start,
            rendered - loaded,
            built - rendered,
            fresh - built,
            written - fresh,
            (built - start) + (written - fresh),
        ]);
    }
    phases.remove(0); // warm-up
    println!(
        "berth render: {APPS} apps × {OBJECTS_PER_APP} objects = {objects} objects, {} KiB canonical YAML, {} threads",
        bytes / 1024,
        rayon::current_num_threads()
    );
    let names = [
        "config",
        "render+post-process",
        "canonical tree",
        "write to a new dir",
        "replace a tree",
        "total (replace)",
    ];
    for (i, name) in names.iter().enumerate() {
        let mut times: Vec<Duration> = phases.iter().map(|p| p[i]).collect();
        times.sort();
        println!(
            "  {name:<22} best {:>8.1} ms   median {:>8.1} ms",
            ms(times[0]),
            ms(times[times.len() / 2])
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// 200 apps, each a template directory rendering 25 objects of everyday kinds.
fn generate(root: &Path) {
    let mut config = String::from("apps:\n");
    for app in 0..APPS {
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
