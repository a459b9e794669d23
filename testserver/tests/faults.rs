//! Fault injection and request counters.

mod common;

use std::time::{Duration, Instant};

use berth_testserver::{Fault, TestServer};
use common::{apply, get, send};
use serde_json::json;

#[test]
fn status_faults_for_the_next_requests() {
    let srv = TestServer::start_blocking();
    srv.fail_next(2, 503);
    for _ in 0..2 {
        let r = get(srv.addr(), "/api/v1/namespaces/default");
        assert_eq!(r.status, 503);
        assert_eq!(r.json()["reason"], "ServiceUnavailable");
        assert_eq!(r.json()["code"], 503);
    }
    assert_eq!(get(srv.addr(), "/api/v1/namespaces/default").status, 200);

    srv.inject(Fault::too_many_requests(3).times(1));
    let r = get(srv.addr(), "/api/v1/namespaces/default");
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("3"));
    assert_eq!(r.json()["details"]["retryAfterSeconds"], 3);
    assert_eq!(get(srv.addr(), "/api/v1/namespaces/default").status, 200);

    srv.inject(Fault::status(500));
    assert_eq!(get(srv.addr(), "/version").status, 500);
    assert_eq!(
        get(srv.addr(), "/version").status,
        500,
        "without times() a fault stays"
    );
    srv.clear_faults();
    assert_eq!(get(srv.addr(), "/version").status, 200);
}

#[test]
fn faults_matching_path_and_method() {
    let srv = TestServer::start_blocking();
    srv.inject(
        Fault::status(500)
            .on_path("/api/v1/namespaces/default")
            .on_method("PATCH"),
    );
    srv.inject(Fault::status(503).on_path_prefix("/apis/apps/"));
    assert_eq!(
        get(srv.addr(), "/api/v1/namespaces/default").status,
        200,
        "GET is not matched"
    );
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}});
    assert_eq!(
        apply(srv.addr(), "/api/v1/namespaces/default", "berth", &ns).status,
        500
    );
    assert_eq!(
        apply(
            srv.addr(),
            "/api/v1/namespaces/other",
            "berth",
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})
        )
        .status,
        201
    );
    assert_eq!(get(srv.addr(), "/apis/apps/v1/deployments").status, 503);
    assert_eq!(get(srv.addr(), "/apis/batch/v1/jobs").status, 200);
}

#[test]
fn dropped_connection() {
    let srv = TestServer::start_blocking();
    srv.inject(Fault::drop_connection().times(1));
    let err = send(srv.addr(), "GET", "/api/v1/namespaces", None, b"")
        .err()
        .expect("connection dropped");
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::UnexpectedEof
        ),
        "{err:?}"
    );
    assert_eq!(get(srv.addr(), "/api/v1/namespaces").status, 200);
    let recs = srv.requests();
    assert_eq!(
        recs[0].status, 0,
        "a dropped request is recorded with status 0"
    );
    assert_eq!(recs[1].status, 200);
}

#[test]
fn latency_and_max_in_flight() {
    let srv = TestServer::start_blocking();
    srv.set_latency(Duration::from_millis(300));
    let addr = srv.addr();
    let start = Instant::now();
    let threads: Vec<_> = (0..6)
        .map(|_| std::thread::spawn(move || get(addr, "/api/v1/namespaces").status))
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 200);
    }
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(300),
        "latency applied: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_millis(1500),
        "requests were served in parallel: {elapsed:?}"
    );
    assert_eq!(srv.max_in_flight(), 6);

    srv.reset_counters();
    srv.set_latency(Duration::ZERO);
    get(addr, "/version");
    assert_eq!(srv.max_in_flight(), 1);
    assert_eq!(srv.requests().len(), 1);
}

#[test]
fn request_log_and_write_counters() {
    let srv = TestServer::start_blocking();
    let addr = srv.addr();
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}});
    let body = serde_json::to_vec(&cm).unwrap();
    let dry = send(
        addr,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/c?fieldManager=berth&dryRun=All",
        Some("application/apply-patch+yaml"),
        &body,
    )
    .unwrap();
    assert_eq!(dry.status, 201);
    get(addr, "/api/v1/namespaces/default/configmaps/c");
    assert_eq!(srv.count_writes(), 0, "dry runs and reads are not writes");
    assert!(srv.object("", "configmaps", "default", "c").is_none());

    assert_eq!(
        apply(
            addr,
            "/api/v1/namespaces/default/configmaps/c",
            "berth",
            &cm
        )
        .status,
        201
    );
    assert_eq!(
        send(
            addr,
            "DELETE",
            "/api/v1/namespaces/default/configmaps/c",
            None,
            b""
        )
        .unwrap()
        .status,
        200
    );
    assert_eq!(srv.count_writes(), 2);

    let recs = srv.requests();
    assert_eq!(recs.len(), 4);
    assert_eq!(recs[0].method, "PATCH");
    assert_eq!(recs[0].path, "/api/v1/namespaces/default/configmaps/c");
    assert_eq!(recs[0].query, "fieldManager=berth&dryRun=All");
    assert!(recs[0].is_dry_run());
    assert_eq!(recs[0].param("fieldManager").as_deref(), Some("berth"));
    assert_eq!(recs[0].content_type, "application/apply-patch+yaml");
    assert_eq!(recs[1].status, 404);
    assert_eq!(
        srv.count("PATCH", "/api/v1/namespaces/default/configmaps/c"),
        2
    );
    let by = srv.counts_by_method();
    assert_eq!(by["PATCH"], 2);
    assert_eq!(by["GET"], 1);
    assert_eq!(by["DELETE"], 1);
}
