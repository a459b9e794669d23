//! The kube crate's client (what berth uses) against the test server.

use berth_testserver::TestServer;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::discovery::{ApiResource, Discovery, Scope};
use kube::{Client, Config};
use serde_json::json;

async fn client(srv: &TestServer) -> Client {
    let kubeconfig =
        kube::config::Kubeconfig::from_yaml(&srv.kubeconfig_yaml()).expect("kubeconfig parses");
    let config = Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("config from kubeconfig");
    Client::try_from(config).expect("client")
}

fn deployment(image: &str, replicas: i64) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "demo", "labels": {"app": "web"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image, "resources": {"requests": {"cpu": "1000m"}}}]}}}
    })
}

async fn find(discovery: &Discovery, group: &str, kind: &str) -> Option<(ApiResource, bool)> {
    for g in discovery.groups() {
        if g.name() != group {
            continue;
        }
        for (ar, caps) in g.recommended_resources() {
            if ar.kind == kind {
                return Some((ar, caps.scope == Scope::Namespaced));
            }
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn discovery_aggregated_and_legacy() {
    let srv = TestServer::start().await;
    let c = client(&srv).await;
    let agg = Discovery::new(c.clone())
        .run_aggregated()
        .await
        .expect("aggregated discovery");
    let (ar, namespaced) = find(&agg, "apps", "Deployment")
        .await
        .expect("apps/Deployment discovered");
    assert_eq!(ar.plural, "deployments");
    assert!(namespaced);
    assert!(find(&agg, "", "ConfigMap").await.is_some());
    assert!(find(&agg, "example.com", "Widget").await.is_none());

    let legacy = Discovery::new(c.clone())
        .run()
        .await
        .expect("legacy discovery");
    let (ar, namespaced) = find(&legacy, "rbac.authorization.k8s.io", "ClusterRole")
        .await
        .expect("ClusterRole");
    assert_eq!(ar.plural, "clusterroles");
    assert!(!namespaced);
    assert!(
        srv.requests()
            .iter()
            .any(|r| r.path == "/apis/rbac.authorization.k8s.io/v1")
    );

    // A CRD adds its group to both forms of discovery; deleting it removes the group.
    let crd_ar = find(&agg, "apiextensions.k8s.io", "CustomResourceDefinition")
        .await
        .unwrap()
        .0;
    let crds: Api<DynamicObject> = Api::all_with(c.clone(), &crd_ar);
    let crd: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    }))
    .unwrap();
    crds.patch(
        "widgets.example.com",
        &PatchParams::apply("berth"),
        &Patch::Apply(&crd),
    )
    .await
    .expect("apply CRD");
    let agg = Discovery::new(c.clone()).run_aggregated().await.unwrap();
    let (w, namespaced) = find(&agg, "example.com", "Widget")
        .await
        .expect("Widget after CRD");
    assert!(namespaced);
    let legacy = Discovery::new(c.clone()).run().await.unwrap();
    assert!(find(&legacy, "example.com", "Widget").await.is_some());

    // The custom resource works like any other.
    let ns: Api<DynamicObject> =
        Api::all_with(c.clone(), &find(&agg, "", "Namespace").await.unwrap().0);
    let nso: DynamicObject = serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}),
    )
    .unwrap();
    ns.patch("demo", &PatchParams::apply("berth"), &Patch::Apply(&nso))
        .await
        .unwrap();
    let widgets: Api<DynamicObject> = Api::namespaced_with(c.clone(), "demo", &w);
    let wo: DynamicObject = serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 3}})).unwrap();
    let created = widgets
        .patch("w1", &PatchParams::apply("berth"), &Patch::Apply(&wo))
        .await
        .expect("apply widget");
    assert_eq!(created.data["spec"]["size"], 3);

    crds.delete("widgets.example.com", &DeleteParams::default())
        .await
        .expect("delete CRD");
    let agg = Discovery::new(c.clone()).run_aggregated().await.unwrap();
    assert!(find(&agg, "example.com", "Widget").await.is_none());
    let err = widgets
        .get("w1")
        .await
        .expect_err("the kind is no longer served");
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 404),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_dry_run_force_conflict_delete() {
    let srv = TestServer::start().await;
    let c = client(&srv).await;
    let agg = Discovery::new(c.clone()).run_aggregated().await.unwrap();
    let (dep_ar, _) = find(&agg, "apps", "Deployment").await.unwrap();
    let (ns_ar, _) = find(&agg, "", "Namespace").await.unwrap();
    let deployments: Api<DynamicObject> = Api::namespaced_with(c.clone(), "demo", &dep_ar);
    let obj: DynamicObject = serde_json::from_value(deployment("nginx:1.27", 2)).unwrap();

    // Missing namespace: 404 NotFound for namespaces, even in dry run.
    let err = deployments
        .patch(
            "web",
            &PatchParams::apply("berth").dry_run(),
            &Patch::Apply(&obj),
        )
        .await
        .expect_err("namespace missing");
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 404);
            assert_eq!(s.message, "namespaces \"demo\" not found");
        }
        other => panic!("unexpected {other:?}"),
    }

    let namespaces: Api<DynamicObject> = Api::all_with(c.clone(), &ns_ar);
    let ns: DynamicObject = serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}),
    )
    .unwrap();
    namespaces
        .patch("demo", &PatchParams::apply("berth"), &Patch::Apply(&ns))
        .await
        .unwrap();

    // Dry run: defaults filled in, nothing stored.
    let writes_before = srv.count_writes();
    let dry = deployments
        .patch(
            "web",
            &PatchParams::apply("berth").dry_run().force(),
            &Patch::Apply(&obj),
        )
        .await
        .expect("dry-run apply");
    assert_eq!(dry.data["spec"]["revisionHistoryLimit"], 10);
    assert_eq!(
        dry.data["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
        "IfNotPresent"
    );
    assert_eq!(
        dry.data["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"],
        "1"
    );
    assert_eq!(
        srv.count_writes(),
        writes_before,
        "a dry run is not a write"
    );
    assert!(deployments.get_opt("web").await.unwrap().is_none());

    // Real apply, then list.
    let live = deployments
        .patch(
            "web",
            &PatchParams::apply("berth").force(),
            &Patch::Apply(&obj),
        )
        .await
        .unwrap();
    assert_eq!(live.metadata.generation, Some(1));
    let list = deployments
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    assert_eq!(list.items.len(), 1);
    assert!(
        deployments
            .list(&ListParams::default().labels("app!=web"))
            .await
            .unwrap()
            .items
            .is_empty()
    );

    // Another manager changes berth's field: 409 with causes; force takes it over.
    let other: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "demo"},
        "spec": {"replicas": 5}
    }))
    .unwrap();
    let err = deployments
        .patch("web", &PatchParams::apply("scaler"), &Patch::Apply(&other))
        .await
        .expect_err("conflict");
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 409);
            assert_eq!(s.reason, "Conflict");
            assert_eq!(
                s.message,
                "Apply failed with 1 conflict: conflict with \"berth\": .spec.replicas"
            );
            let causes = s.details.expect("details").causes;
            assert_eq!(causes.len(), 1);
            assert_eq!(causes[0].reason, "FieldManagerConflict");
            assert_eq!(causes[0].message, "conflict with \"berth\"");
            assert_eq!(causes[0].field, ".spec.replicas");
        }
        other => panic!("unexpected {other:?}"),
    }
    let forced = deployments
        .patch(
            "web",
            &PatchParams::apply("scaler").force(),
            &Patch::Apply(&other),
        )
        .await
        .unwrap();
    assert_eq!(forced.data["spec"]["replicas"], 5);
    assert_eq!(forced.metadata.generation, Some(2));
    let managers: Vec<String> = forced
        .metadata
        .managed_fields
        .unwrap()
        .iter()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert_eq!(managers, ["berth", "scaler"]);

    // berth re-applies without replicas: the field stays (scaler owns it); dropping the container
    // image change shows up.
    let mut again = deployment("nginx:1.28", 2);
    again["spec"].as_object_mut().unwrap().remove("replicas");
    let again: DynamicObject = serde_json::from_value(again).unwrap();
    let after = deployments
        .patch("web", &PatchParams::apply("berth"), &Patch::Apply(&again))
        .await
        .unwrap();
    assert_eq!(after.data["spec"]["replicas"], 5);
    assert_eq!(
        after.data["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.28"
    );

    // Delete, then 404.
    deployments
        .delete("web", &DeleteParams::background())
        .await
        .expect("delete");
    let err = deployments.get("web").await.expect_err("gone");
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 404 && s.reason == "NotFound"),
        "{err:?}"
    );
    let err = deployments
        .delete("web", &DeleteParams::default())
        .await
        .expect_err("already gone");
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 404),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_status_scale_and_server_helpers() {
    use futures_util::{StreamExt, TryStreamExt};
    use kube::api::{PostParams, WatchEvent, WatchParams};

    let srv = TestServer::start().await;
    srv.apply_object(
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}),
        "setup",
    )
    .unwrap();
    srv.apply_object(&deployment("nginx:1.27", 2), "berth")
        .unwrap();
    let c = client(&srv).await;
    let ar = ApiResource::erase::<k8s_openapi::api::apps::v1::Deployment>(&());
    let deployments: Api<DynamicObject> = Api::namespaced_with(c.clone(), "demo", &ar);

    // Typed access works too.
    let typed: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(c.clone(), "demo");
    let d = typed.get("web").await.expect("typed get");
    assert_eq!(d.spec.unwrap().replicas, Some(2));

    let list = deployments.list(&ListParams::default()).await.unwrap();
    let rv = list.metadata.resource_version.clone().unwrap();
    let mut events = deployments
        .watch(
            &WatchParams::default()
                .fields("metadata.name=web")
                .timeout(5),
            &rv,
        )
        .await
        .unwrap()
        .boxed();

    // The test plays the controller through the status subresource.
    let ready = srv
        .mark_deployment_ready("demo", "web")
        .expect("status patch");
    assert_eq!(ready["status"]["readyReplicas"], 2);
    match events.try_next().await.unwrap().expect("an event") {
        WatchEvent::Modified(o) => assert_eq!(o.data["status"]["availableReplicas"], 2),
        other => panic!("unexpected {other:?}"),
    }
    let status = deployments.get_status("web").await.unwrap();
    assert_eq!(status.data["status"]["observedGeneration"], 1);

    // Scale subresource.
    let scale = deployments.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(2));
    let scaled = deployments
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 4}})),
        )
        .await
        .unwrap();
    assert_eq!(scaled.spec.unwrap().replicas, Some(4));
    assert_eq!(
        deployments.get("web").await.unwrap().data["spec"]["replicas"],
        4
    );

    // Plain create conflicts with an existing object.
    let obj: DynamicObject = serde_json::from_value(deployment("nginx:1.27", 1)).unwrap();
    let err = deployments
        .create(&PostParams::default(), &obj)
        .await
        .expect_err("exists");
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409 && s.reason == "AlreadyExists"),
        "{err:?}"
    );

    deployments
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    loop {
        match events.try_next().await.unwrap() {
            Some(WatchEvent::Deleted(o)) => {
                assert_eq!(o.metadata.name.as_deref(), Some("web"));
                break;
            }
            Some(_) => continue,
            None => panic!("watch ended before the DELETED event"),
        }
    }
}
