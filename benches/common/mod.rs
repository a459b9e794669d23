//! The generated repository both benchmarks render: 200 template apps × 25 objects.

// Each benchmark uses part of this module.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

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
