//! Defaults the real API server fills in (copied from what the recordings show).

use serde_json::{Map, Value, json};

fn obj(v: &mut Value) -> Option<&mut Map<String, Value>> {
    v.as_object_mut()
}

fn set_default(m: &mut Map<String, Value>, key: &str, v: Value) {
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.to_string(), v);
    }
}

fn image_pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, tag)) if tag != "latest" => "IfNotPresent",
        _ => "Always",
    }
}

fn probe(p: &mut Value) {
    let Some(m) = obj(p) else { return };
    set_default(m, "timeoutSeconds", json!(1));
    set_default(m, "periodSeconds", json!(10));
    set_default(m, "successThreshold", json!(1));
    set_default(m, "failureThreshold", json!(3));
    if let Some(h) = m.get_mut("httpGet").and_then(Value::as_object_mut) {
        set_default(h, "scheme", json!("HTTP"));
    }
}

fn container(c: &mut Value) {
    let Some(m) = obj(c) else { return };
    set_default(m, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(m, "terminationMessagePolicy", json!("File"));
    let image = m
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    set_default(m, "imagePullPolicy", json!(image_pull_policy(&image)));
    if let Some(ports) = m.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            set_default(p, "protocol", json!("TCP"));
        }
    }
    if let Some(env) = m.get_mut("env").and_then(Value::as_array_mut) {
        for e in env {
            if let Some(f) = e
                .pointer_mut("/valueFrom/fieldRef")
                .and_then(Value::as_object_mut)
            {
                set_default(f, "apiVersion", json!("v1"));
            }
        }
    }
    for p in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(pr) = m.get_mut(p) {
            probe(pr);
        }
    }
}

/// Defaults of a PodSpec.
pub fn pod_spec(spec: &mut Value) {
    let Some(m) = obj(spec) else { return };
    for key in ["containers", "initContainers"] {
        if let Some(cs) = m.get_mut(key).and_then(Value::as_array_mut) {
            cs.iter_mut().for_each(container);
        }
    }
    set_default(m, "restartPolicy", json!("Always"));
    set_default(m, "terminationGracePeriodSeconds", json!(30));
    set_default(m, "dnsPolicy", json!("ClusterFirst"));
    set_default(m, "securityContext", json!({}));
    set_default(m, "schedulerName", json!("default-scheduler"));
    if let Some(vols) = m.get_mut("volumes").and_then(Value::as_array_mut) {
        for v in vols.iter_mut().filter_map(Value::as_object_mut) {
            for src in ["configMap", "secret"] {
                if let Some(s) = v.get_mut(src).and_then(Value::as_object_mut) {
                    set_default(s, "defaultMode", json!(420));
                }
            }
        }
    }
}

fn template(spec: &mut Map<String, Value>) {
    if let Some(t) = spec.get_mut("template").and_then(|t| t.get_mut("spec")) {
        pod_spec(t);
    }
}

/// Fill in server defaults on a (merged) object of a built-in kind.
pub fn apply_defaults(group: &str, kind: &str, object: &mut Value) {
    let Some(root) = obj(object) else { return };
    match (group, kind) {
        ("apps", "Deployment") => {
            let spec = root.entry("spec").or_insert_with(|| json!({}));
            if let Some(s) = spec.as_object_mut() {
                set_default(s, "replicas", json!(1));
                template(s);
                set_default(
                    s,
                    "strategy",
                    json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
                );
                if let Some(st) = s.get_mut("strategy").and_then(Value::as_object_mut) {
                    set_default(st, "type", json!("RollingUpdate"));
                    if st.get("type") == Some(&json!("RollingUpdate")) {
                        set_default(st, "rollingUpdate", json!({}));
                        if let Some(ru) = st.get_mut("rollingUpdate").and_then(Value::as_object_mut)
                        {
                            set_default(ru, "maxUnavailable", json!("25%"));
                            set_default(ru, "maxSurge", json!("25%"));
                        }
                    }
                }
                set_default(s, "revisionHistoryLimit", json!(10));
                set_default(s, "progressDeadlineSeconds", json!(600));
            }
            set_default(root, "status", json!({}));
        }
        ("apps", "ReplicaSet") => {
            if let Some(s) = root.get_mut("spec").and_then(Value::as_object_mut) {
                set_default(s, "replicas", json!(1));
                template(s);
            }
            set_default(root, "status", json!({"replicas": 0}));
        }
        ("apps", "StatefulSet") => {
            if let Some(s) = root.get_mut("spec").and_then(Value::as_object_mut) {
                set_default(s, "replicas", json!(1));
                template(s);
                set_default(s, "podManagementPolicy", json!("OrderedReady"));
                set_default(
                    s,
                    "updateStrategy",
                    json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
                );
                set_default(s, "revisionHistoryLimit", json!(10));
                set_default(
                    s,
                    "persistentVolumeClaimRetentionPolicy",
                    json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
                );
            }
            set_default(
                root,
                "status",
                json!({"replicas": 0, "availableReplicas": 0}),
            );
        }
        ("apps", "DaemonSet") => {
            if let Some(s) = root.get_mut("spec").and_then(Value::as_object_mut) {
                template(s);
                set_default(
                    s,
                    "updateStrategy",
                    json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
                );
                set_default(s, "revisionHistoryLimit", json!(10));
            }
            set_default(
                root,
                "status",
                json!({"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0, "numberReady": 0}),
            );
        }
        ("batch", "Job") => {
            if let Some(s) = root.get_mut("spec").and_then(Value::as_object_mut) {
                if let Some(t) = s.get_mut("template").and_then(|t| t.get_mut("spec")) {
                    pod_spec(t);
                }
                set_default(s, "parallelism", json!(1));
                set_default(s, "completions", json!(1));
                set_default(s, "backoffLimit", json!(6));
                set_default(s, "completionMode", json!("NonIndexed"));
                set_default(s, "suspend", json!(false));
            }
            set_default(root, "status", json!({}));
        }
        ("batch", "CronJob") => {
            if let Some(s) = root.get_mut("spec").and_then(Value::as_object_mut) {
                set_default(s, "concurrencyPolicy", json!("Allow"));
                set_default(s, "suspend", json!(false));
                set_default(s, "successfulJobsHistoryLimit", json!(3));
                set_default(s, "failedJobsHistoryLimit", json!(1));
                if let Some(t) = s
                    .get_mut("jobTemplate")
                    .and_then(|j| j.pointer_mut("/spec/template/spec"))
                {
                    pod_spec(t);
                }
            }
            set_default(root, "status", json!({}));
        }
        ("", "Pod") => {
            if let Some(s) = root.get_mut("spec") {
                pod_spec(s);
            }
            if let Some(s) = root.get_mut("spec").and_then(Value::as_object_mut) {
                set_default(s, "enableServiceLinks", json!(true));
                set_default(s, "preemptionPolicy", json!("PreemptLowerPriority"));
                set_default(s, "priority", json!(0));
            }
            set_default(
                root,
                "status",
                json!({"phase": "Pending", "qosClass": "BestEffort"}),
            );
        }
        ("", "Service") => {
            if let Some(s) = root.get_mut("spec").and_then(Value::as_object_mut) {
                set_default(s, "type", json!("ClusterIP"));
                let ty = s["type"].as_str().unwrap_or("ClusterIP").to_string();
                if let Some(ports) = s.get_mut("ports").and_then(Value::as_array_mut) {
                    for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                        set_default(p, "protocol", json!("TCP"));
                        if let Some(port) = p.get("port").cloned() {
                            set_default(p, "targetPort", port);
                        }
                    }
                }
                if ty != "ExternalName" {
                    set_default(s, "sessionAffinity", json!("None"));
                    set_default(s, "ipFamilies", json!(["IPv4"]));
                    set_default(s, "ipFamilyPolicy", json!("SingleStack"));
                    set_default(s, "internalTrafficPolicy", json!("Cluster"));
                }
                if ty == "NodePort" || ty == "LoadBalancer" {
                    set_default(s, "externalTrafficPolicy", json!("Cluster"));
                }
                if ty == "LoadBalancer" {
                    set_default(s, "allocateLoadBalancerNodePorts", json!(true));
                }
            }
            set_default(root, "status", json!({"loadBalancer": {}}));
        }
        ("", "Secret") => {
            if let Some(Value::Object(sd)) = root.shift_remove("stringData") {
                use base64::Engine;
                let data = root.entry("data").or_insert_with(|| json!({}));
                if let Some(d) = data.as_object_mut() {
                    for (k, v) in sd {
                        let s = v.as_str().unwrap_or_default();
                        d.insert(
                            k,
                            json!(base64::engine::general_purpose::STANDARD.encode(s)),
                        );
                    }
                }
            }
            set_default(root, "type", json!("Opaque"));
        }
        ("", "Namespace") => {
            let name = root
                .get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if let Some(meta) = root.get_mut("metadata").and_then(Value::as_object_mut) {
                let labels = meta.entry("labels").or_insert_with(|| json!({}));
                if let Some(l) = labels.as_object_mut() {
                    l.insert("kubernetes.io/metadata.name".into(), json!(name));
                }
            }
            set_default(root, "spec", json!({"finalizers": ["kubernetes"]}));
            set_default(root, "status", json!({"phase": "Active"}));
        }
        ("", "ServiceAccount") | ("", "ConfigMap") => {}
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            if let Some(s) = root.get_mut("spec").and_then(Value::as_object_mut) {
                if let Some(n) = s.get_mut("names").and_then(Value::as_object_mut)
                    && let Some(k) = n.get("kind").and_then(Value::as_str).map(String::from)
                {
                    set_default(n, "listKind", json!(format!("{k}List")));
                }
                set_default(s, "conversion", json!({"strategy": "None"}));
            }
            let stored: Vec<Value> = root
                .get("spec")
                .and_then(|s| s.get("versions"))
                .and_then(Value::as_array)
                .map(|vs| {
                    vs.iter()
                        .filter(|v| v["storage"].as_bool() == Some(true))
                        .map(|v| v["name"].clone())
                        .collect()
                })
                .unwrap_or_default();
            set_default(
                root,
                "status",
                json!({"conditions": null, "acceptedNames": {"plural": "", "kind": ""}, "storedVersions": stored}),
            );
        }
        _ => {}
    }
}

/// Kinds whose objects carry `metadata.generation`.
pub fn has_generation(group: &str, kind: &str, custom: bool) -> bool {
    custom
        || matches!(group, "apps" | "batch" | "apiextensions.k8s.io" | "policy")
        || matches!(
            (group, kind),
            ("networking.k8s.io", "Ingress")
                | ("networking.k8s.io", "NetworkPolicy")
                | ("autoscaling", "HorizontalPodAutoscaler")
                | ("admissionregistration.k8s.io", _)
                | ("scheduling.k8s.io", "PriorityClass")
        )
}
