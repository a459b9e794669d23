//! Server behaviour beyond the recordings: apply semantics, selectors, subresources, watch,
//! namespace termination, optimistic concurrency, errors.

mod common;

use std::time::Duration;

use berth_testserver::TestServer;
use common::{apply, get, send};
use serde_json::{Value, json};

fn ns(srv: &TestServer, name: &str) {
    let r = apply(
        srv.addr(),
        &format!("/api/v1/namespaces/{name}"),
        "berth",
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
    );
    assert!(r.status < 300, "{}", r.text());
}

fn patch(srv: &TestServer, path: &str, ct: &str, body: &Value) -> common::HttpResponse {
    send(
        srv.addr(),
        "PATCH",
        path,
        Some(ct),
        &serde_json::to_vec(body).unwrap(),
    )
    .unwrap()
}

fn deployment(containers: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "demo"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}}}})
}

#[test]
fn apply_removes_what_the_manager_no_longer_applies() {
    let srv = TestServer::start_blocking();
    ns(&srv, "demo");
    let path = "/api/v1/namespaces/demo/configmaps/c";
    let cm = |data: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"team": "a"}}, "data": data});
    assert_eq!(
        apply(srv.addr(), path, "berth", &cm(json!({"a": "1", "b": "2"}))).status,
        201
    );
    // Another manager (an Update) adds a key.
    let r = patch(
        &srv,
        &format!("{path}?fieldManager=editor"),
        "application/merge-patch+json",
        &json!({"data": {"c": "3"}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let mf = &r.json()["metadata"]["managedFields"];
    assert_eq!(mf[1]["manager"], "editor");
    assert_eq!(mf[1]["operation"], "Update");
    assert_eq!(mf[1]["fieldsV1"], json!({"f:data": {"f:c": {}}}));
    // berth drops "b": removed; "c" belongs to editor and stays.
    let r = apply(srv.addr(), path, "berth", &cm(json!({"a": "1"})));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["data"], json!({"a": "1", "c": "3"}));
    assert_eq!(
        r.json()["metadata"]["managedFields"][0]["fieldsV1"],
        json!({"f:data": {"f:a": {}}, "f:metadata": {"f:labels": {"f:team": {}}}})
    );

    // Containers by name, env by name, ports by containerPort.
    ns(&srv, "demo");
    let dpath = "/apis/apps/v1/namespaces/demo/deployments/web";
    let two = deployment(json!([
        {"name": "web", "image": "nginx", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}], "ports": [{"containerPort": 80}, {"containerPort": 443}]},
        {"name": "sidecar", "image": "busybox:1.36"}
    ]));
    let r = apply(srv.addr(), dpath, "berth", &two);
    assert_eq!(r.status, 201, "{}", r.text());
    let c = &r.json()["spec"]["template"]["spec"]["containers"];
    assert_eq!(c[0]["imagePullPolicy"], "Always", "no tag means :latest");
    assert_eq!(c[1]["imagePullPolicy"], "IfNotPresent");
    assert_eq!(r.json()["spec"]["replicas"], 1);
    let one = deployment(
        json!([{"name": "web", "image": "nginx:1.27", "env": [{"name": "A", "value": "1"}], "ports": [{"containerPort": 80}]}]),
    );
    let r = apply(srv.addr(), dpath, "berth", &one);
    let d = r.json();
    let c = d["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(c.len(), 1, "{d}");
    assert_eq!(c[0]["env"], json!([{"name": "A", "value": "1"}]));
    assert_eq!(
        c[0]["ports"],
        json!([{"containerPort": 80, "protocol": "TCP"}])
    );
    assert_eq!(d["metadata"]["generation"], 2);
    // Re-applying the same thing changes nothing (no new resourceVersion, no generation bump).
    let again = apply(srv.addr(), dpath, "berth", &one).json();
    assert_eq!(again["metadata"]["generation"], 2);
    assert_eq!(
        again["metadata"]["resourceVersion"],
        d["metadata"]["resourceVersion"]
    );
}

#[test]
fn yaml_bodies_quantities_and_typed_errors() {
    let srv = TestServer::start_blocking();
    ns(&srv, "demo");
    let yaml = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: demo\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n        - name: web\n          image: nginx:1.27\n          resources:\n            requests: {cpu: 0.5, memory: 1024Mi}\n            limits: {cpu: 1500m}\n      volumes:\n        - name: cfg\n          configMap:\n            name: cfg\n            defaultMode: 0644\n";
    let r = send(
        srv.addr(),
        "PATCH",
        "/apis/apps/v1/namespaces/demo/deployments/web?fieldManager=berth&dryRun=All",
        Some("application/apply-patch+yaml"),
        yaml.as_bytes(),
    )
    .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let d = r.json();
    let spec = &d["spec"]["template"]["spec"];
    assert_eq!(
        spec["containers"][0]["resources"],
        json!({"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1500m"}})
    );
    assert_eq!(
        spec["volumes"][0]["configMap"]["defaultMode"], 420,
        "legacy octal 0644"
    );
    assert!(
        d["metadata"].get("resourceVersion").is_none(),
        "a dry-run create has no resourceVersion"
    );

    let bad = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": "http"}], "bogus": 1}});
    let r = apply(
        srv.addr(),
        "/api/v1/namespaces/demo/services/s",
        "berth",
        &bad,
    );
    assert_eq!(r.status, 500);
    let m = r.json()["message"].as_str().unwrap().to_string();
    assert!(
        m.starts_with("failed to create typed patch object (demo/s; /v1, Kind=Service): errors:\n"),
        "{m}"
    );
    assert!(
        m.contains(".spec.bogus: field not declared in schema"),
        "{m}"
    );
    assert!(
        m.contains("expected numeric (int or float), got string"),
        "{m}"
    );

    let r = send(
        srv.addr(),
        "PATCH",
        "/api/v1/namespaces/demo/configmaps/x",
        Some("application/apply-patch+yaml"),
        b"{}",
    )
    .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["message"],
        "fieldManager is required for apply requests"
    );
}

#[test]
fn selectors_and_cross_namespace_lists() {
    let srv = TestServer::start_blocking();
    for (n, labels) in [
        ("a", json!({"app": "web", "tier": "front"})),
        ("b", json!({"app": "db"})),
        ("c", json!({"app": "web"})),
    ] {
        let namespace = if n == "b" { "other" } else { "default" };
        ns(&srv, namespace);
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n, "labels": labels}});
        assert_eq!(
            apply(
                srv.addr(),
                &format!("/api/v1/namespaces/{namespace}/configmaps/{n}"),
                "berth",
                &cm
            )
            .status,
            201
        );
    }
    let names = |q: &str| -> Vec<String> {
        let r = get(
            srv.addr(),
            &format!(
                "/api/v1/configmaps?labelSelector={}",
                q.replace(' ', "%20")
                    .replace(',', "%2C")
                    .replace('!', "%21")
                    .replace('(', "%28")
                    .replace(')', "%29")
            ),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["kind"], "ConfigMapList");
        r.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names("app=web"), ["a", "c"]);
    assert_eq!(names("app!=web"), ["b"]);
    assert_eq!(names("app in (db,web),tier"), ["a"]);
    assert_eq!(names("app notin (web)"), ["b"]);
    assert_eq!(names("!tier"), ["c", "b"], "sorted by namespace, then name");
    let r = get(
        srv.addr(),
        "/api/v1/namespaces/default/configmaps?fieldSelector=metadata.name%3Dc",
    );
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 1);
}

/// A LIST writes each item as a GET writes the object (same keys, same order), without
/// `kind` and `apiVersion` for built-in kinds: the real server's JSON for both comes from one
/// struct. Compared as text, since key order is what a byte-level reader sees.
#[test]
fn list_items_are_written_as_their_gets() {
    let srv = TestServer::start_blocking();
    ns(&srv, "demo");
    let deploy = deployment(json!([{"name": "web", "image": "nginx:1.27"}]));
    let r = apply(
        srv.addr(),
        "/apis/apps/v1/namespaces/demo/deployments/web",
        "berth",
        &deploy,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    // Keys written out of the server's order: the stored object must come back in its order.
    let cm = json!({"data": {"b": "2", "a": "1"}, "metadata": {"labels": {"x": "y"}, "name": "c", "namespace": "demo"}, "kind": "ConfigMap", "apiVersion": "v1"});
    let r = apply(
        srv.addr(),
        "/api/v1/namespaces/demo/configmaps/c",
        "berth",
        &cm,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    for (list, item) in [
        (
            "/apis/apps/v1/namespaces/demo/deployments",
            "/apis/apps/v1/namespaces/demo/deployments/web",
        ),
        (
            "/api/v1/configmaps?labelSelector=x%3Dy",
            "/api/v1/namespaces/demo/configmaps/c",
        ),
    ] {
        let listed = get(srv.addr(), list);
        assert_eq!(listed.status, 200, "{}", listed.text());
        let items = listed.json()["items"].clone();
        assert_eq!(items.as_array().map(Vec::len), Some(1), "{}", listed.text());
        let one = get(srv.addr(), item).json();
        let mut expected = one.clone();
        let map = expected.as_object_mut().unwrap();
        map.shift_remove("kind");
        map.shift_remove("apiVersion");
        assert_eq!(
            serde_json::to_string(&items[0]).unwrap(),
            serde_json::to_string(&expected).unwrap(),
            "the LIST item of {item} differs from its GET"
        );
        let keys: Vec<&String> = one.as_object().unwrap().keys().collect();
        assert_eq!(keys[..3], ["kind", "apiVersion", "metadata"], "{one}");
    }
}

#[test]
fn status_subresource_and_merge_patches() {
    let srv = TestServer::start_blocking();
    ns(&srv, "demo");
    let dpath = "/apis/apps/v1/namespaces/demo/deployments/web";
    assert_eq!(
        apply(
            srv.addr(),
            dpath,
            "berth",
            &deployment(json!([{"name": "web", "image": "nginx:1.27"}]))
        )
        .status,
        201
    );
    // Status written through the main resource is ignored.
    let r = patch(
        &srv,
        dpath,
        "application/merge-patch+json",
        &json!({"status": {"readyReplicas": 1}}),
    );
    assert_eq!(r.json()["status"], json!({}));
    let r = patch(
        &srv,
        &format!("{dpath}/status"),
        "application/merge-patch+json",
        &json!({"spec": {"replicas": 9}, "status": {"readyReplicas": 1, "availableReplicas": 1, "observedGeneration": 1}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["spec"]["replicas"],
        1,
        "spec is ignored on /status"
    );
    let s = get(srv.addr(), &format!("{dpath}/status")).json();
    assert_eq!(s["status"]["readyReplicas"], 1);
    assert_eq!(s["metadata"]["generation"], 1);
    let mf = s["metadata"]["managedFields"].as_array().unwrap();
    assert_eq!(mf.last().unwrap()["subresource"], "status");
    // Strategic merge patch merges containers by name; JSON patch works too.
    let r = patch(
        &srv,
        dpath,
        "application/strategic-merge-patch+json",
        &json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.28"}]}}}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let c = &r.json()["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], "nginx:1.28");
    assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(r.json()["metadata"]["generation"], 2);
    let r = patch(
        &srv,
        dpath,
        "application/json-patch+json",
        &json!([{"op": "replace", "path": "/spec/replicas", "value": 3}]),
    );
    assert_eq!(r.json()["spec"]["replicas"], 3);
    // berth's apply now conflicts on fields the patches took over.
    let r = send(
        srv.addr(),
        "PATCH",
        &format!("{dpath}?fieldManager=berth"),
        Some("application/apply-patch+yaml"),
        &serde_json::to_vec(&deployment(json!([{"name": "web", "image": "nginx:1.27"}]))).unwrap(),
    )
    .unwrap();
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(
        r.json()["details"]["causes"][0]["field"],
        ".spec.template.spec.containers[name=\"web\"].image"
    );
}

#[test]
fn optimistic_concurrency_and_create_errors() {
    let srv = TestServer::start_blocking();
    ns(&srv, "demo");
    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "lock"}, "spec": {"holderIdentity": "a"}});
    let path = "/apis/coordination.k8s.io/v1/namespaces/demo/leases";
    let r = send(
        srv.addr(),
        "POST",
        path,
        Some("application/json"),
        &serde_json::to_vec(&lease).unwrap(),
    )
    .unwrap();
    assert_eq!(r.status, 201);
    let mut live = r.json();
    live["spec"]["holderIdentity"] = json!("b");
    let put = |v: &Value| {
        send(
            srv.addr(),
            "PUT",
            &format!("{path}/lock"),
            Some("application/json"),
            &serde_json::to_vec(v).unwrap(),
        )
        .unwrap()
    };
    let r = put(&live);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_ne!(
        r.json()["metadata"]["resourceVersion"],
        live["metadata"]["resourceVersion"]
    );
    let r = put(&live);
    assert_eq!(r.status, 409, "stale resourceVersion");
    assert_eq!(r.json()["reason"], "Conflict");
    // Dry-run create stores nothing; wrong name in the URL is a 400; missing namespace a 404.
    let mut other = lease.clone();
    other["metadata"]["name"] = json!("other");
    let r = send(
        srv.addr(),
        "POST",
        &format!("{path}?dryRun=All"),
        Some("application/json"),
        &serde_json::to_vec(&other).unwrap(),
    )
    .unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(get(srv.addr(), &format!("{path}/other")).status, 404);
    let r = put(&other);
    assert_eq!(r.status, 400);
    let r = send(
        srv.addr(),
        "POST",
        "/apis/coordination.k8s.io/v1/namespaces/nope/leases",
        Some("application/json"),
        &serde_json::to_vec(&other).unwrap(),
    )
    .unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["details"]["kind"], "namespaces");
    // Kinds not served, wrong scope.
    let r = get(srv.addr(), "/apis/example.com/v1/namespaces/demo/widgets");
    assert_eq!(
        (r.status, r.text()),
        (404, "404 page not found\n".to_string())
    );
    assert_eq!(
        get(srv.addr(), "/api/v1/namespaces/demo/namespaces/x").status,
        404
    );
    let r = send(
        srv.addr(),
        "PATCH",
        "/api/v1/namespaces/demo/configmaps/c?fieldManager=berth",
        Some("application/apply-patch+yaml"),
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n",
    )
    .unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
}

#[test]
fn namespace_termination_watch_and_garbage_collection() {
    let srv = TestServer::start_blocking();
    srv.set_namespace_termination_delay(Duration::from_millis(200));
    ns(&srv, "demo");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    assert_eq!(
        apply(
            srv.addr(),
            "/api/v1/namespaces/demo/configmaps/c",
            "berth",
            &cm
        )
        .status,
        201
    );

    // A watch sees the deletion.
    let addr = srv.addr();
    let watcher = std::thread::spawn(move || {
        send(addr, "GET", "/api/v1/namespaces/demo/configmaps?watch=true&fieldSelector=metadata.name%3Dc&timeoutSeconds=2&resourceVersion=1", None, b"").unwrap()
    });
    std::thread::sleep(Duration::from_millis(150));
    let r = send(srv.addr(), "DELETE", "/api/v1/namespaces/demo", None, b"").unwrap();
    assert_eq!(r.json()["status"]["phase"], "Terminating");
    assert!(r.json()["metadata"]["deletionTimestamp"].is_string());
    let r = apply(
        srv.addr(),
        "/api/v1/namespaces/demo/configmaps/d",
        "berth",
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d"}}),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        get(srv.addr(), "/api/v1/namespaces/demo").json()["status"]["phase"],
        "Terminating"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(get(srv.addr(), "/api/v1/namespaces/demo").status, 404);
    assert!(
        srv.object("", "configmaps", "demo", "c").is_none(),
        "objects go with their namespace"
    );
    let events: Vec<Value> = watcher
        .join()
        .unwrap()
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "DELETED");
    assert_eq!(events[0]["object"]["metadata"]["name"], "c");

    // Deleting an owner deletes its dependents (background propagation).
    ns(&srv, "gc");
    let owner = apply(
        srv.addr(),
        "/api/v1/namespaces/gc/configmaps/owner",
        "berth",
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}}),
    )
    .json();
    let dep = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dep", "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}]}});
    assert_eq!(
        apply(
            srv.addr(),
            "/api/v1/namespaces/gc/configmaps/dep",
            "berth",
            &dep
        )
        .status,
        201
    );
    let r = send(
        srv.addr(),
        "DELETE",
        "/api/v1/namespaces/gc/configmaps/owner",
        Some("application/json"),
        br#"{"dryRun":["All"]}"#,
    )
    .unwrap();
    assert_eq!(r.status, 200);
    assert!(
        srv.object("", "configmaps", "gc", "owner").is_some(),
        "dry-run delete (in the body) keeps it"
    );
    assert_eq!(
        send(
            srv.addr(),
            "DELETE",
            "/api/v1/namespaces/gc/configmaps/owner",
            None,
            b""
        )
        .unwrap()
        .status,
        200
    );
    assert!(srv.object("", "configmaps", "gc", "dep").is_none());
}

#[test]
fn openapi_and_discovery_documents() {
    let srv = TestServer::start_blocking();
    let idx = get(srv.addr(), "/openapi/v3").json();
    assert!(idx["paths"]["apis/apps/v1"]["serverRelativeURL"].is_string());
    let doc = get(srv.addr(), "/openapi/v3/apis/apps/v1?hash=X");
    assert_eq!(doc.status, 200);
    assert!(doc.json()["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"].is_object());
    assert_eq!(get(srv.addr(), "/openapi/v3/apis/nope/v1").status, 404);
    assert_eq!(get(srv.addr(), "/version").json()["gitVersion"], "v1.36.2");
    let agg = send(srv.addr(), "GET", "/apis", None, b"").unwrap();
    assert_eq!(agg.json()["kind"], "APIGroupList");
    let agg = common::send_with(
        srv.addr(),
        "GET",
        "/apis",
        &[(
            "Accept",
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
        )],
        b"",
    )
    .unwrap();
    assert_eq!(agg.json()["kind"], "APIGroupDiscoveryList");
    assert!(
        agg.header("content-type")
            .unwrap()
            .contains("as=APIGroupDiscoveryList")
    );
    assert_eq!(get(srv.addr(), "/apis/apps").json()["kind"], "APIGroup");
    // A batch/v1 document that was not recorded as legacy discovery is synthesised from the aggregated one.
    assert_eq!(
        get(srv.addr(), "/apis/events.k8s.io/v1").json()["resources"][0]["name"],
        "events"
    );
}
