//! Replays every recorded kube-apiserver v1.36.2 transcript against a fresh test server and compares
//! status codes and bodies (volatile values normalised). Deliberate differences are listed below.

mod common;

use std::path::PathBuf;

use berth_testserver::TestServer;
use common::{HttpResponse, apply, get, send, send_with};
use serde_json::{Map, Value, json};

fn recorded() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/k8s-recorded")
}

fn transcript(name: &str) -> Value {
    let p = recorded().join("transcripts").join(format!("{name}.json"));
    serde_json::from_slice(
        &std::fs::read(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display())),
    )
    .unwrap()
}

/// How an exchange is allowed to differ from the recording, and why.
enum Deviation {
    /// Only the status code and the start of `message` are compared.
    MessagePrefix(&'static str),
}

/// Deliberate differences: (scenario, exchange index, deviation, reason).
const DEVIATIONS: &[(&str, usize, Deviation, &str)] = &[(
    "invalid_objects",
    2,
    Deviation::MessagePrefix("error decoding YAML: error converting YAML to JSON: yaml: "),
    "the YAML parser is serde-saphyr, not go-yaml: the error text after the common prefix differs",
)];

/// Replace values that change on every run by the placeholders the recordings use.
fn normalise(v: &mut Value) {
    match v {
        Value::Object(m) => {
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                let placeholder = match k.as_str() {
                    "uid" | "creationTimestamp" | "resourceVersion" | "deletionTimestamp"
                    | "time" | "lastTransitionTime" | "lastUpdateTime" => {
                        Some(json!(format!("<{k}>")))
                    }
                    "clusterIP" => Some(json!("<clusterIP>")),
                    "clusterIPs" => Some(json!(["<clusterIP>"])),
                    _ => None,
                };
                match placeholder {
                    Some(p) if m[&k].is_string() || k == "clusterIPs" => {
                        m.insert(k, p);
                    }
                    _ => {}
                }
            }
            // fieldsV1 keys that embed a uid.
            let renamed: Vec<(String, Value)> = m
                .iter()
                .filter(|(k, _)| k.starts_with("k:{\"uid\":"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            for (k, val) in renamed {
                m.shift_remove(&k);
                m.insert("k:{\"uid\":\"<uid>\"}".into(), val);
            }
            m.values_mut().for_each(normalise);
        }
        Value::Array(a) => a.iter_mut().for_each(normalise),
        _ => {}
    }
}

fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "recorder"}}})
}

fn ok(r: HttpResponse, what: &str) -> Value {
    assert!(
        r.status < 300,
        "setup step {what} failed: {} {}",
        r.status,
        r.text()
    );
    r.json()
}

fn request_body(t: &str, i: usize) -> Value {
    transcript(t)["exchanges"][i]["request"]["body"].clone()
}

/// Play kube-controller-manager for Deployment rec-demo/web: the revision annotation and status, and
/// its ReplicaSet, using the values the recording shows.
fn play_deployment_controller(srv: &TestServer) {
    let addr = srv.addr();
    let recorded = transcript("deployment_status");
    let dep = &recorded["exchanges"][0]["response"]["body"];
    let patch = json!({"metadata": {"annotations": dep["metadata"]["annotations"]}, "status": dep["status"]});
    let r = send(
        addr,
        "PATCH",
        "/apis/apps/v1/namespaces/rec-demo/deployments/web/status?fieldManager=kube-controller-manager",
        Some("application/merge-patch+json"),
        &serde_json::to_vec(&patch).unwrap(),
    )
    .unwrap();
    ok(r, "deployment status");
    let live = get(addr, "/apis/apps/v1/namespaces/rec-demo/deployments/web").json();
    let rs = &recorded["exchanges"][1]["response"]["body"]["items"][0];
    let mut meta = Map::new();
    for k in [
        "name",
        "namespace",
        "labels",
        "annotations",
        "ownerReferences",
    ] {
        meta.insert(k.into(), rs["metadata"][k].clone());
    }
    meta["ownerReferences"][0]["uid"] = live["metadata"]["uid"].clone();
    let body = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta, "spec": rs["spec"]});
    let r = send(
        addr,
        "POST",
        "/apis/apps/v1/namespaces/rec-demo/replicasets?fieldManager=kube-controller-manager",
        Some("application/json"),
        &serde_json::to_vec(&body).unwrap(),
    )
    .unwrap();
    ok(r, "replicaset create");
    let r = send(
        addr,
        "PATCH",
        &format!("/apis/apps/v1/namespaces/rec-demo/replicasets/{}/status?fieldManager=kube-controller-manager", rs["metadata"]["name"].as_str().unwrap()),
        Some("application/merge-patch+json"),
        &serde_json::to_vec(&json!({"status": rs["status"]})).unwrap(),
    )
    .unwrap();
    ok(r, "replicaset status");
}

/// The cluster state each recording started from.
fn setup(srv: &TestServer, scenario: &str) {
    let addr = srv.addr();
    let ns = |name: &str| {
        ok(
            apply(
                addr,
                &format!("/api/v1/namespaces/{name}"),
                "recorder",
                &namespace(name),
            ),
            "namespace",
        )
    };
    let deployment = || {
        ok(
            apply(
                addr,
                "/apis/apps/v1/namespaces/rec-demo/deployments/web",
                "berth",
                &request_body("deployment_lifecycle", 2),
            ),
            "deployment",
        )
    };
    match scenario {
        "cluster_scoped"
        | "crd_then_custom_resource"
        | "deployment_lifecycle"
        | "invalid_objects"
        | "lease_lock"
        | "secret_and_configmap"
        | "service_defaults" => {
            ns("rec-demo");
        }
        "custom_resource_after_crd" => {
            ns("rec-demo");
            ok(
                apply(
                    addr,
                    "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com",
                    "berth",
                    &request_body("crd_then_custom_resource", 2),
                ),
                "crd",
            );
        }
        "deployment_status" => {
            ns("rec-demo");
            deployment();
            play_deployment_controller(srv);
        }
        "list_and_delete" => {
            ns("rec-demo");
            deployment();
            play_deployment_controller(srv);
            ok(
                apply(
                    addr,
                    "/api/v1/namespaces/rec-demo/services/web",
                    "berth",
                    &request_body("service_defaults", 1),
                ),
                "service",
            );
        }
        "field_manager_conflict" => {
            ns("rec-demo");
            ok(
                apply(
                    addr,
                    "/api/v1/namespaces/rec-demo/configmaps/settings",
                    "berth",
                    &request_body("secret_and_configmap", 2),
                ),
                "configmap",
            );
        }
        "namespace_delete" => {
            ok(
                apply(
                    addr,
                    "/api/v1/namespaces/rec-demo",
                    "berth",
                    &request_body("namespace_apply", 1),
                ),
                "namespace",
            );
        }
        "type_and_schema_errors" => {
            ns("rec-extra");
        }
        "csa_takeover" => {
            ns("rec-csa");
        }
        "missing_namespace" | "namespace_apply" => {}
        other => panic!("no setup for transcript {other}: add it to the table in tests/replay.rs"),
    }
}

/// Play kube-controller-manager for Deployment rec-csa/web before exchange `i` of csa_takeover: the
/// revision annotation and the status that exchange's recorded response shows the controller wrote
/// in the meantime (the recording ran against a real controller-manager).
fn play_csa_controller(srv: &TestServer, i: usize) {
    let recorded = transcript("csa_takeover");
    let dep = &recorded["exchanges"][i]["response"]["body"];
    let revision = "deployment.kubernetes.io/revision";
    let patch = json!({
        "metadata": {"annotations": {revision: dep["metadata"]["annotations"][revision]}},
        "status": dep["status"],
    });
    let r = send(
        srv.addr(),
        "PATCH",
        "/apis/apps/v1/namespaces/rec-csa/deployments/web/status?fieldManager=kube-controller-manager",
        Some("application/merge-patch+json"),
        &serde_json::to_vec(&patch).unwrap(),
    )
    .unwrap();
    ok(r, "deployment status");
}

/// What happened between two recorded exchanges without being recorded (a controller's writes).
fn before_exchange(srv: &TestServer, scenario: &str, i: usize) {
    if scenario == "csa_takeover" && matches!(i, 3 | 5 | 7) {
        play_csa_controller(srv, i);
    }
}

/// A JSON patch whose `test` of `/metadata/resourceVersion` passed in the recording tests the
/// live resourceVersion instead (resourceVersions differ on every run).
fn live_resource_version(srv: &TestServer, req: &Value, recorded_status: u64, body: &mut Value) {
    if req["content_type"] != "application/json-patch+json" || recorded_status >= 300 {
        return;
    }
    let path = req["path"].as_str().unwrap();
    for op in body.as_array_mut().into_iter().flatten() {
        if op["op"] == "test" && op["path"] == "/metadata/resourceVersion" {
            let live = get(srv.addr(), path).json();
            op["value"] = live["metadata"]["resourceVersion"].clone();
        }
    }
}

fn query_string(q: &Value) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in q.as_object().into_iter().flatten() {
        s.append_pair(k, v.as_str().unwrap_or_default());
    }
    s.finish()
}

fn replay(scenario: &str) -> Vec<String> {
    let t = transcript(scenario);
    let srv = TestServer::start_blocking();
    setup(&srv, scenario);
    let mut failures = Vec::new();
    for (i, ex) in t["exchanges"].as_array().unwrap().iter().enumerate() {
        let req = &ex["request"];
        let q = query_string(&req["query"]);
        let path = req["path"].as_str().unwrap();
        let pq = if q.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{q}")
        };
        before_exchange(&srv, scenario, i);
        let mut body = req["body"].clone();
        live_resource_version(
            &srv,
            req,
            ex["response"]["status"].as_u64().unwrap(),
            &mut body,
        );
        let body = match &body {
            Value::Null => Vec::new(),
            Value::String(s) => s.clone().into_bytes(),
            other => serde_json::to_vec(other).unwrap(),
        };
        // The recorder was a Python urllib client; its User-Agent names the manager of plain writes.
        let headers = [
            ("Content-Type", req["content_type"].as_str().unwrap_or("")),
            ("User-Agent", "Python-urllib/3.12"),
        ];
        let resp = send_with(
            srv.addr(),
            req["method"].as_str().unwrap(),
            &pq,
            &headers,
            &body,
        )
        .expect("response");
        let want = &ex["response"];
        let what = format!(
            "{scenario}[{i}] {} {pq} ({})",
            req["method"].as_str().unwrap(),
            ex["note"].as_str().unwrap_or_default()
        );
        if resp.status != want["status"].as_u64().unwrap() as u16 {
            failures.push(format!(
                "{what}: status {} != recorded {}\n  got: {}",
                resp.status,
                want["status"],
                resp.text()
            ));
            continue;
        }
        let deviation = DEVIATIONS
            .iter()
            .find(|(s, n, _, _)| *s == scenario && *n == i)
            .map(|(_, _, d, _)| d);
        if let Value::String(text) = &want["body"] {
            if resp.text() != *text {
                failures.push(format!(
                    "{what}: body {:?} != recorded {text:?}",
                    resp.text()
                ));
            }
            continue;
        }
        let mut got = resp.json();
        let mut expected = want["body"].clone();
        if let Some(Deviation::MessagePrefix(prefix)) = deviation {
            let m = got["message"].as_str().unwrap_or_default().to_string();
            assert!(
                m.starts_with(prefix),
                "{what}: message {m:?} does not start with {prefix:?}"
            );
            assert!(
                expected["message"].as_str().unwrap().starts_with(prefix),
                "{what}: stale deviation"
            );
            got["message"] = json!("<deviation>");
            expected["message"] = json!("<deviation>");
        }
        normalise(&mut got);
        normalise(&mut expected);
        if got != expected {
            failures.push(format!(
                "{what}: body differs\n  got:      {}\n  recorded: {}",
                serde_json::to_string(&got).unwrap(),
                serde_json::to_string(&expected).unwrap()
            ));
        }
    }
    failures
}

#[test]
fn replay_all_transcripts() {
    let dir = recorded().join("transcripts");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the recordings must be at {} ({e})", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(
        names.len() >= 15,
        "expected the recorded transcripts, found {names:?}"
    );
    let handles: Vec<_> = names
        .iter()
        .cloned()
        .map(|n| std::thread::spawn(move || (n.clone(), replay(&n))))
        .collect();
    let mut failures = Vec::new();
    for h in handles {
        let (_, f) = h.join().expect("replay thread");
        failures.extend(f);
    }
    assert!(
        failures.is_empty(),
        "{} exchange(s) differ from the recordings:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
