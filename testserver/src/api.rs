//! Request routing and the Kubernetes REST semantics (discovery, CRUD, apply, patch, watch).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::apply::{self, ApplyRequest};
use crate::defaults;
use crate::discovery::{self, Resource};
use crate::recorded::recorded;
use crate::schema::{self, Node};
use crate::store::{Key, Store, now_rfc3339};
use crate::validation;

pub const AGGREGATED_CT: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// What to answer.
pub enum Reply {
    Json(u16, Value),
    /// JSON with a specific content type.
    JsonAs(u16, &'static str, Value),
    Text(u16, String),
    Raw(u16, &'static str, std::sync::Arc<Vec<u8>>),
    Watch(Box<WatchSpec>),
}

/// A watch request, served by polling the store.
pub struct WatchSpec {
    pub res: Resource,
    pub namespace: Option<String>,
    pub labels: Vec<Req>,
    pub fields: Vec<Req>,
    pub initial: bool,
    pub bookmark: bool,
    pub timeout: Duration,
}

pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: HashMap<String, String>,
    pub accept: &'a str,
    pub content_type: &'a str,
    pub user_agent: &'a str,
    pub body: &'a [u8],
}

impl Request<'_> {
    fn q(&self, k: &str) -> Option<&str> {
        self.query.get(k).map(String::as_str)
    }
    fn dry_run(&self) -> bool {
        self.q("dryRun").is_some_and(|v| v == "All")
    }
    fn flag(&self, k: &str) -> bool {
        matches!(self.q(k), Some("true") | Some("1"))
    }
    fn manager(&self) -> String {
        match self.q("fieldManager") {
            Some(m) if !m.is_empty() => m.to_string(),
            _ => {
                let p = self.user_agent.split('/').next().unwrap_or_default();
                if p.is_empty() {
                    "unknown".into()
                } else {
                    p.to_string()
                }
            }
        }
    }
}

pub fn status(code: u16, reason: Option<&str>, message: &str, details: Option<Value>) -> Value {
    let mut m = Map::new();
    m.insert("kind".into(), json!("Status"));
    m.insert("apiVersion".into(), json!("v1"));
    m.insert("metadata".into(), json!({}));
    m.insert("status".into(), json!("Failure"));
    m.insert("message".into(), json!(message));
    if let Some(r) = reason {
        m.insert("reason".into(), json!(r));
    }
    if let Some(d) = details {
        m.insert("details".into(), d);
    }
    m.insert("code".into(), json!(code));
    Value::Object(m)
}

fn err(code: u16, reason: &str, message: &str, details: Option<Value>) -> Reply {
    Reply::Json(code, status(code, Some(reason), message, details))
}

fn page_not_found() -> Reply {
    Reply::Text(404, "404 page not found\n".into())
}

fn no_resource() -> Reply {
    err(
        404,
        "NotFound",
        "the server could not find the requested resource",
        Some(json!({})),
    )
}

fn details(res: &Resource, name: &str) -> Value {
    let mut d = Map::new();
    d.insert("name".into(), json!(name));
    if !res.group.is_empty() {
        d.insert("group".into(), json!(res.group));
    }
    d.insert("kind".into(), json!(res.plural));
    Value::Object(d)
}

fn not_found(res: &Resource, name: &str) -> Reply {
    err(
        404,
        "NotFound",
        &format!("{} {name:?} not found", res.group_resource()),
        Some(details(res, name)),
    )
}

fn namespace_not_found(ns: &str) -> Reply {
    err(
        404,
        "NotFound",
        &format!("namespaces {ns:?} not found"),
        Some(json!({"name": ns, "kind": "namespaces"})),
    )
}

fn bad_request(msg: &str) -> Reply {
    err(400, "BadRequest", msg, None)
}

/// The resources established CRDs serve right now.
pub fn custom_resources(store: &Store) -> Vec<Resource> {
    store
        .objects
        .iter()
        .filter(|(k, _)| k.0 == "apiextensions.k8s.io" && k.1 == "customresourcedefinitions")
        .filter(|(_, v)| discovery::crd_established(v))
        .flat_map(|(_, v)| discovery::crd_resources(v))
        .collect()
}

fn find_resource(store: &Store, group: &str, version: &str, plural: &str) -> Option<Resource> {
    discovery::builtins()
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
        .cloned()
        .or_else(|| {
            custom_resources(store)
                .into_iter()
                .find(|r| r.group == group && r.version == version && r.plural == plural)
        })
}

fn schema_for(res: &Resource) -> Option<Node<'static>> {
    if res.custom {
        None
    } else {
        schema::root(&res.group, &res.version, &res.kind)
    }
}

// ---- label and field selectors ----

#[derive(Clone, Debug)]
pub enum Req {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

pub fn parse_selector(s: &str) -> Result<Vec<Req>, String> {
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    parts.push(cur);
    let mut out = Vec::new();
    for p in parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let set = |rest: &str| -> Result<Vec<String>, String> {
            let r = rest.trim();
            let inner = r
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or(format!("invalid selector {p:?}"))?;
            Ok(inner
                .split(',')
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .collect())
        };
        if let Some(k) = p.strip_prefix('!') {
            out.push(Req::NotExists(k.trim().into()));
        } else if let Some((k, v)) = p.split_once("!=") {
            out.push(Req::NotEq(k.trim().into(), v.trim().into()));
        } else if let Some((k, v)) = p.split_once("==") {
            out.push(Req::Eq(k.trim().into(), v.trim().into()));
        } else if let Some((k, v)) = p.split_once('=') {
            out.push(Req::Eq(k.trim().into(), v.trim().into()));
        } else if let Some((k, rest)) = p.split_once(" notin ") {
            out.push(Req::NotIn(k.trim().into(), set(rest)?));
        } else if let Some((k, rest)) = p.split_once(" in ") {
            out.push(Req::In(k.trim().into(), set(rest)?));
        } else if p
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        {
            out.push(Req::Exists(p.into()));
        } else {
            return Err(format!("unable to parse requirement: {p:?}"));
        }
    }
    Ok(out)
}

fn matches(reqs: &[Req], get: impl Fn(&str) -> Option<String>) -> bool {
    reqs.iter().all(|r| match r {
        Req::Eq(k, v) => get(k).as_deref() == Some(v.as_str()),
        Req::NotEq(k, v) => get(k).as_deref() != Some(v.as_str()),
        Req::In(k, vs) => get(k).is_some_and(|x| vs.contains(&x)),
        Req::NotIn(k, vs) => get(k).is_none_or(|x| !vs.contains(&x)),
        Req::Exists(k) => get(k).is_some(),
        Req::NotExists(k) => get(k).is_none(),
    })
}

pub fn object_matches(obj: &Value, labels: &[Req], fields: &[Req]) -> bool {
    matches(labels, |k| {
        obj.pointer("/metadata/labels")
            .and_then(|l| l.get(k))
            .and_then(Value::as_str)
            .map(String::from)
    }) && matches(fields, |k| {
        let ptr = format!("/{}", k.replace('.', "/"));
        match obj.pointer(&ptr) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Null) | None => Some(String::new()),
            Some(v) => Some(v.to_string()),
        }
    })
}

// ---- object presentation ----

const META_ORDER: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

fn sort_keys(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.sort_keys();
            m.values_mut().for_each(sort_keys);
        }
        Value::Array(a) => a.iter_mut().for_each(sort_keys),
        _ => {}
    }
}

/// Key order as the real server writes it (Go struct order for built-ins, sorted for custom resources).
fn canonical_order(res: &Resource, obj: Value) -> Value {
    let Value::Object(mut m) = obj else {
        return obj;
    };
    if res.custom {
        let mut v = Value::Object(m);
        sort_keys(&mut v);
        return v;
    }
    let mut out = Map::new();
    for k in ["kind", "apiVersion"] {
        if let Some(v) = m.shift_remove(k) {
            out.insert(k.into(), v);
        }
    }
    if let Some(Value::Object(mut meta)) = m.shift_remove("metadata") {
        let mut nm = Map::new();
        for k in META_ORDER {
            if let Some(v) = meta.shift_remove(*k) {
                nm.insert((*k).into(), v);
            }
        }
        nm.extend(meta);
        out.insert("metadata".into(), Value::Object(nm));
    }
    let status = m.shift_remove("status");
    out.extend(m);
    if let Some(s) = status {
        out.insert("status".into(), s);
    }
    Value::Object(out)
}

/// The object as served for `res` (apiVersion of the requested version).
fn present(res: &Resource, obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        m.insert("apiVersion".into(), json!(res.api_version()));
        m.insert("kind".into(), json!(res.kind));
    }
    canonical_order(res, o)
}

// ---- body decoding ----

fn decode_yaml(body: &[u8]) -> Result<Value, String> {
    let text = std::str::from_utf8(body).map_err(|e| e.to_string())?;
    let trimmed = text.trim_start();
    if trimmed.starts_with('{')
        && let Ok(v) = serde_json::from_str::<Value>(text)
    {
        return Ok(v);
    }
    let mut opts = serde_saphyr::Options::default();
    opts.legacy_octal_numbers = true;
    opts.with_snippet = false;
    serde_saphyr::from_str_with_options::<Value>(text, opts).map_err(|e| {
        let msg = e.to_string();
        msg.lines().next().unwrap_or_default().to_string()
    })
}

fn unsupported_protobuf() -> Reply {
    err(
        415,
        "UnsupportedMediaType",
        "the test API server does not decode protobuf bodies - accepted media types include: application/json, application/yaml",
        None,
    )
}

fn decode_body(req: &Request<'_>) -> Result<Value, Reply> {
    if req.content_type.contains("protobuf") || req.content_type.contains("cbor") {
        return Err(unsupported_protobuf());
    }
    if req.content_type.contains("yaml") {
        decode_yaml(req.body).map_err(|e| {
            bad_request(&format!(
                "error decoding YAML: error converting YAML to JSON: yaml: {e}"
            ))
        })
    } else {
        serde_json::from_slice(req.body)
            .map_err(|e| bad_request(&format!("couldn't get version/kind; json parse error: {e}")))
    }
}

// ---- the server state ----

pub struct Api {
    pub store: Mutex<Store>,
}

impl Default for Api {
    fn default() -> Self {
        let api = Api {
            store: Mutex::new(Store::default()),
        };
        {
            let mut st = api.store.lock().unwrap();
            let ns_res = find_resource(&st, "", "v1", "namespaces").expect("namespaces are served");
            for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
                let obj =
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
                let _ = write(
                    &mut st,
                    &ns_res,
                    None,
                    obj,
                    WriteOp::Update {
                        manager: "kube-apiserver".into(),
                    },
                    false,
                    None,
                );
            }
        }
        api
    }
}

enum WriteOp {
    Apply {
        manager: String,
        force: bool,
        applied: Value,
    },
    Update {
        manager: String,
    },
}

/// Store a new version of an object (create when `old` is None). Returns the stored (or, for a dry
/// run, would-be) object.
fn write(
    st: &mut Store,
    res: &Resource,
    old: Option<&Value>,
    mut new: Value,
    op: WriteOp,
    dry_run: bool,
    sub: Option<&str>,
) -> Result<Value, Reply> {
    let node = schema_for(res);
    let time = now_rfc3339();
    let name = new
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let ns = new
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let has_status = res.has_status();

    // Subresource rules: the main resource ignores status, the status subresource only writes status.
    if let Some(m) = new.as_object_mut() {
        m.insert("apiVersion".into(), json!(res.api_version()));
        m.insert("kind".into(), json!(res.kind));
    }
    if sub == Some("status") {
        let mut base = old.cloned().unwrap_or_default();
        if let Some(s) = new.get("status") {
            base["status"] = s.clone();
        }
        if let Some(a) = new.pointer("/metadata/annotations") {
            base["metadata"]["annotations"] = a.clone();
        }
        new = base;
    } else if has_status && let Some(m) = new.as_object_mut() {
        match old.and_then(|o| o.get("status")) {
            Some(s) => {
                m.insert("status".into(), s.clone());
            }
            None => {
                m.shift_remove("status");
            }
        }
    }
    // An update (not of a subresource) that brings its own managedFields replaces the live ones
    // with them (how client-go's csaupgrade hands fields from one manager to another).
    let given_entries = match (&op, old, sub) {
        (WriteOp::Update { .. }, Some(_), None) => new
            .pointer("/metadata/managedFields")
            .filter(|m| valid_managed_fields(m))
            .cloned(),
        _ => None,
    };
    // Server-owned metadata.
    {
        let meta = new
            .as_object_mut()
            .ok_or_else(|| bad_request("the object is not a map"))?
            .entry("metadata")
            .or_insert_with(|| json!({}));
        let meta = meta
            .as_object_mut()
            .ok_or_else(|| bad_request("metadata is not a map"))?;
        for k in [
            "uid",
            "creationTimestamp",
            "generation",
            "resourceVersion",
            "deletionTimestamp",
            "managedFields",
        ] {
            meta.shift_remove(k);
        }
        if let Some(o) = old.and_then(|o| o["metadata"].as_object()) {
            for k in [
                "uid",
                "creationTimestamp",
                "generation",
                "resourceVersion",
                "deletionTimestamp",
            ] {
                if let Some(v) = o.get(k) {
                    meta.insert(k.into(), v.clone());
                }
            }
        } else {
            meta.insert("uid".into(), json!(st.new_uid()));
            meta.insert("creationTimestamp".into(), json!(time));
        }
    }
    schema::normalise_quantities(&mut new, node);
    if !res.custom {
        defaults::apply_defaults(&res.group, &res.kind, &mut new);
    }
    if res.group.is_empty() && res.kind == "Service" {
        let ty = new
            .pointer("/spec/type")
            .and_then(Value::as_str)
            .unwrap_or("ClusterIP")
            .to_string();
        if ty != "ExternalName" && new.pointer("/spec/clusterIP").is_none() {
            let ip = st.cluster_ip(dry_run);
            new["spec"]["clusterIP"] = json!(ip);
        }
        if new.pointer("/spec/clusterIPs").is_none()
            && let Some(ip) = new.pointer("/spec/clusterIP").cloned()
        {
            new["spec"]["clusterIPs"] = json!([ip]);
        }
    }
    let causes = if res.custom {
        Vec::new()
    } else {
        validation::validate(&res.group, &res.kind, &new)
    };
    if !causes.is_empty() {
        let joined: Vec<String> = causes.iter().map(|(_, m, f)| format!("{f}: {m}")).collect();
        let msg = if joined.len() == 1 {
            joined[0].clone()
        } else {
            format!("[{}]", joined.join(", "))
        };
        let mut d = Map::new();
        d.insert("name".into(), json!(name));
        if !res.group.is_empty() {
            d.insert("group".into(), json!(res.group));
        }
        d.insert("kind".into(), json!(res.kind));
        d.insert(
            "causes".into(),
            causes
                .iter()
                .map(|(r, m, f)| json!({"reason": r, "message": m, "field": f}))
                .collect(),
        );
        return Err(err(
            422,
            "Invalid",
            &format!("{} {name:?} is invalid: {msg}", res.group_kind()),
            Some(Value::Object(d)),
        ));
    }
    // Generation.
    if defaults::has_generation(&res.group, &res.kind, res.custom) {
        let strip = |v: &Value| {
            let mut v = v.clone();
            if let Some(m) = v.as_object_mut() {
                m.shift_remove("metadata");
                m.shift_remove("status");
            }
            v
        };
        let g = match old {
            None => 1,
            Some(o) => {
                let prev = o
                    .pointer("/metadata/generation")
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                if strip(o) != strip(&new) {
                    prev + 1
                } else {
                    prev
                }
            }
        };
        new["metadata"]["generation"] = json!(g);
    }
    // Managed fields.
    let entries = match op {
        WriteOp::Apply {
            manager,
            force,
            applied,
        } => {
            // Conflicts compare the applied value as sent (an integer `cpu: 1` differs from the
            // stored string "1"); the stored object is normalised above.
            let outcome = apply::apply(ApplyRequest {
                live: old,
                applied: &applied,
                manager: &manager,
                force,
                subresource: sub,
                has_status_subresource: has_status,
                api_version: &res.api_version(),
                time: &time,
                node,
            });
            let mut entries = match outcome {
                Ok(o) => o.entries,
                Err(conflicts) => return Err(conflict_reply(&conflicts)),
            };
            // An apply that leaves the object as it was does not touch the manager's time.
            if let Some(o) = old
                && without_bookkeeping(o) == without_bookkeeping(&new)
            {
                let before = apply::read_entries(o)
                    .into_iter()
                    .find(|e| e.same_owner(&manager, "Apply", sub))
                    .map(|e| e.time)
                    .unwrap_or_default();
                if let Some(e) = entries
                    .iter_mut()
                    .find(|e| e.same_owner(&manager, "Apply", sub))
                {
                    e.time = before;
                }
            }
            entries
        }
        WriteOp::Update { manager } => apply::record_update(
            given_entries
                .map(|g| {
                    let mut o = old.cloned().unwrap_or_default();
                    o["metadata"]["managedFields"] = g;
                    o
                })
                .as_ref()
                .or(old),
            &new,
            &manager,
            sub,
            has_status,
            &res.api_version(),
            &time,
            node,
        ),
    };
    let mut entries = entries;
    apply::sort_entries(&mut entries);
    apply::write_entries(&mut new, &entries);
    let key: Key = (
        res.group.clone(),
        res.plural.clone(),
        if res.namespaced { ns } else { String::new() },
        name,
    );
    if dry_run {
        if old.is_none()
            && let Some(m) = new["metadata"].as_object_mut()
        {
            m.shift_remove("resourceVersion");
        }
    } else {
        let unchanged = old.is_some_and(|o| {
            without_bookkeeping(o) == without_bookkeeping(&new)
                && apply::read_entries(o)
                    .iter()
                    .map(|e| (&e.manager, &e.set))
                    .eq(entries.iter().map(|e| (&e.manager, &e.set)))
        });
        if unchanged {
            new = old.cloned().unwrap_or(new);
        } else {
            new["metadata"]["resourceVersion"] = json!(st.next_rv());
        }
    }
    let new = canonical_order(res, new);
    if !dry_run {
        st.objects.insert(key, new.clone());
        if res.group == "apiextensions.k8s.io"
            && res.kind == "CustomResourceDefinition"
            && !discovery::crd_established(&new)
        {
            establish_crd(st, res, &new);
        }
    }
    Ok(new)
}

/// The object without managedFields and resourceVersion (to tell whether a write changed it).
fn without_bookkeeping(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v["metadata"].as_object_mut() {
        m.shift_remove("managedFields");
        m.shift_remove("resourceVersion");
    }
    v
}

/// managedFields an update may set: a non-empty list of entries with a `fieldsV1` map.
fn valid_managed_fields(v: &Value) -> bool {
    v.as_array().is_some_and(|a| {
        !a.is_empty()
            && a.iter().all(|e| {
                e.get("manager").is_some_and(Value::is_string) && e["fieldsV1"].is_object()
            })
    })
}

/// Play the part of the apiextensions controller: accept the names and mark the CRD Established.
fn establish_crd(st: &mut Store, res: &Resource, crd: &Value) {
    let mut new = crd.clone();
    let names = crd.pointer("/spec/names").cloned().unwrap_or_default();
    let time = now_rfc3339();
    new["status"]["conditions"] = json!([
        {"type": "NamesAccepted", "status": "True", "lastTransitionTime": time, "reason": "NoConflicts", "message": "no conflicts found"},
        {"type": "Established", "status": "True", "lastTransitionTime": time, "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}
    ]);
    let mut accepted = Map::new();
    for k in [
        "plural",
        "singular",
        "shortNames",
        "kind",
        "listKind",
        "categories",
    ] {
        if let Some(v) = names.get(k) {
            accepted.insert(k.into(), v.clone());
        }
    }
    new["status"]["acceptedNames"] = Value::Object(accepted);
    let _ = write(
        st,
        res,
        Some(crd),
        new,
        WriteOp::Update {
            manager: "kube-apiserver".into(),
        },
        false,
        Some("status"),
    );
}

fn conflict_reply(conflicts: &[apply::Conflict]) -> Reply {
    let n = conflicts.len();
    let body = if n == 1 {
        format!(
            "conflict with {}: {}",
            conflicts[0].manager, conflicts[0].path
        )
    } else {
        let mut by: Vec<(String, Vec<String>)> = Vec::new();
        for c in conflicts {
            match by.iter_mut().find(|(m, _)| *m == c.manager) {
                Some((_, ps)) => ps.push(c.path.clone()),
                None => by.push((c.manager.clone(), vec![c.path.clone()])),
            }
        }
        let parts: Vec<String> = by
            .iter()
            .map(|(m, ps)| {
                if ps.len() == 1 {
                    format!("{m}: {}", ps[0])
                } else {
                    format!(
                        "{m}:{}",
                        ps.iter().map(|p| format!("\n- {p}")).collect::<String>()
                    )
                }
            })
            .collect();
        format!("{n} conflicts with {}", parts.join(", "))
    };
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|c| json!({"reason": "FieldManagerConflict", "message": format!("conflict with {}", c.manager), "field": c.path}))
        .collect();
    err(
        409,
        "Conflict",
        &format!(
            "Apply failed with {n} conflict{}: {body}",
            if n == 1 { "" } else { "s" }
        ),
        Some(json!({"causes": causes})),
    )
}

/// Route one request.
pub fn handle(api: &Api, req: &Request<'_>) -> Reply {
    let mut st = api.store.lock().unwrap();
    st.reap(Instant::now());
    let path = req.path.trim_end_matches('/');
    let path = if path.is_empty() { "/" } else { path };
    let aggregated = req.accept.contains("as=APIGroupDiscoveryList");
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["version"] => return Reply::Json(200, recorded().discovery["/version"].clone()),
        ["healthz"] | ["readyz"] | ["livez"] => return Reply::Text(200, "ok".into()),
        ["api"] if req.method == "GET" => {
            return if aggregated {
                Reply::JsonAs(200, AGGREGATED_CT, discovery::aggregated_api())
            } else {
                Reply::Json(200, recorded().discovery["/api"].clone())
            };
        }
        ["apis"] if req.method == "GET" => {
            let custom = custom_resources(&st);
            return if aggregated {
                Reply::JsonAs(200, AGGREGATED_CT, discovery::aggregated_apis(&custom))
            } else {
                Reply::Json(200, discovery::apis(&custom))
            };
        }
        ["api", v] if req.method == "GET" => {
            return discovery::group_version("", v, &[])
                .map(|d| Reply::Json(200, d))
                .unwrap_or_else(page_not_found);
        }
        ["apis", g] if req.method == "GET" => {
            let custom = custom_resources(&st);
            return discovery::group(g, &custom)
                .map(|d| Reply::Json(200, d))
                .unwrap_or_else(page_not_found);
        }
        ["apis", g, v] if req.method == "GET" => {
            let custom = custom_resources(&st);
            return discovery::group_version(g, v, &custom)
                .map(|d| Reply::Json(200, d))
                .unwrap_or_else(page_not_found);
        }
        ["openapi", "v3"] => return Reply::Json(200, openapi_index(&custom_resources(&st))),
        ["openapi", "v3", rest @ ..] => {
            let key = rest.join("/");
            if let Some(raw) = recorded().openapi_raw.get(&key) {
                return Reply::Raw(200, "application/json", raw.clone());
            }
            let custom = custom_resources(&st);
            return match custom
                .iter()
                .find(|r| format!("apis/{}/{}", r.group, r.version) == key)
            {
                Some(_) => Reply::Json(200, crd_openapi(&st, &key)),
                None => page_not_found(),
            };
        }
        _ => {}
    }
    let (group, version, rest): (&str, &str, &[&str]) = match segs.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return page_not_found(),
    };
    let (ns, plural, name, sub): (Option<&str>, &str, Option<&str>, Option<&str>) = match rest {
        ["namespaces", n, s @ ("status" | "finalize")] => (None, "namespaces", Some(*n), Some(*s)),
        ["namespaces", n, p] => (Some(*n), *p, None, None),
        ["namespaces", n, p, name] => (Some(*n), *p, Some(*name), None),
        ["namespaces", n, p, name, s] => (Some(*n), *p, Some(*name), Some(*s)),
        [p] => (None, *p, None, None),
        [p, name] => (None, *p, Some(*name), None),
        [p, name, s] => (None, *p, Some(*name), Some(*s)),
        _ => return page_not_found(),
    };
    let Some(res) = find_resource(&st, group, version, plural) else {
        return page_not_found();
    };
    if (!res.namespaced && ns.is_some()) || (res.namespaced && ns.is_none() && name.is_some()) {
        return no_resource();
    }
    if let Some(s) = sub
        && !res.subresources.iter().any(|x| x == s)
    {
        return no_resource();
    }
    let ctx = Ctx {
        res,
        ns: ns.map(String::from),
        name: name.map(String::from),
        sub: sub.map(String::from),
    };
    if ctx.sub.as_deref() == Some("scale") {
        return scale(&mut st, &ctx, req);
    }
    match (req.method, ctx.name.is_some()) {
        ("GET", true) => get(&st, &ctx),
        ("GET", false) => list(&st, &ctx, req),
        ("POST", false) => create(&mut st, &ctx, req),
        ("PUT", true) => update(&mut st, &ctx, req),
        ("PATCH", true) => patch(&mut st, &ctx, req),
        ("DELETE", true) => delete(&mut st, &ctx, req),
        ("DELETE", false) => delete_collection(&mut st, &ctx, req),
        _ => err(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
            Some(json!({})),
        ),
    }
}

struct Ctx {
    res: Resource,
    ns: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

impl Ctx {
    fn key(&self, name: &str) -> Key {
        (
            self.res.group.clone(),
            self.res.plural.clone(),
            self.ns.clone().unwrap_or_default(),
            name.to_string(),
        )
    }
    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }
}

fn get(st: &Store, ctx: &Ctx) -> Reply {
    match st.objects.get(&ctx.key(ctx.name())) {
        Some(o) => Reply::Json(200, present(&ctx.res, o)),
        None => not_found(&ctx.res, ctx.name()),
    }
}

fn selectors(req: &Request<'_>) -> Result<(Vec<Req>, Vec<Req>), Reply> {
    let labels =
        parse_selector(req.q("labelSelector").unwrap_or_default()).map_err(|e| bad_request(&e))?;
    let fields =
        parse_selector(req.q("fieldSelector").unwrap_or_default()).map_err(|e| bad_request(&e))?;
    Ok((labels, fields))
}

fn selected<'a>(
    st: &'a Store,
    res: &Resource,
    ns: Option<&str>,
    labels: &[Req],
    fields: &[Req],
) -> Vec<(&'a Key, &'a Value)> {
    st.objects
        .iter()
        .filter(|(k, _)| k.0 == res.group && k.1 == res.plural && ns.is_none_or(|n| k.2 == n))
        .filter(|(_, v)| object_matches(v, labels, fields))
        .collect()
}

fn list(st: &Store, ctx: &Ctx, req: &Request<'_>) -> Reply {
    let (labels, fields) = match selectors(req) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if req.flag("watch") {
        let rv = req.q("resourceVersion").unwrap_or_default();
        let initial = req.flag("sendInitialEvents") || rv.is_empty() || rv == "0";
        let timeout = req
            .q("timeoutSeconds")
            .and_then(|t| t.parse().ok())
            .unwrap_or(60u64)
            .min(600);
        return Reply::Watch(Box::new(WatchSpec {
            res: ctx.res.clone(),
            namespace: ctx.ns.clone(),
            labels,
            fields,
            initial,
            bookmark: req.flag("sendInitialEvents"),
            timeout: Duration::from_secs(timeout),
        }));
    }
    let items: Vec<Listed<'_>> = selected(st, &ctx.res, ctx.ns.as_deref(), &labels, &fields)
        .into_iter()
        .map(|(_, v)| match v {
            Value::Object(m) if !ctx.res.custom => Listed::BuiltIn(m),
            // Custom resources' keys are sorted: rare enough to copy.
            v => Listed::Presented(present(&ctx.res, v)),
        })
        .collect();
    let list = ListAnswer {
        kind: format!("{}List", ctx.res.kind),
        api_version: ctx.res.api_version(),
        resource_version: st.current_rv(),
        items,
    };
    // Written from the store in place: a list of thousands of objects is neither copied nor
    // rebuilt key by key (the server's lock is held meanwhile).
    let body = serde_json::to_vec(&list).unwrap_or_default();
    Reply::Raw(200, "application/json", std::sync::Arc::new(body))
}

/// A LIST's answer: `kind`, `apiVersion`, `metadata` and `items`, in the real server's order.
struct ListAnswer<'a> {
    kind: String,
    api_version: String,
    resource_version: String,
    items: Vec<Listed<'a>>,
}

impl serde::Serialize for ListAnswer<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut out = s.serialize_map(Some(4))?;
        out.serialize_entry("kind", &self.kind)?;
        out.serialize_entry("apiVersion", &self.api_version)?;
        out.serialize_entry(
            "metadata",
            &json!({"resourceVersion": self.resource_version}),
        )?;
        out.serialize_entry("items", &self.items)?;
        out.end()
    }
}

/// One item of a LIST answer.
enum Listed<'a> {
    /// A stored built-in object, written as [`canonical_order`] lays it out, less `kind` and
    /// `apiVersion` (a list's items carry none).
    BuiltIn(&'a Map<String, Value>),
    Presented(Value),
}

impl serde::Serialize for Listed<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let m = match self {
            Listed::BuiltIn(m) => *m,
            Listed::Presented(v) => return v.serialize(s),
        };
        let mut out = s.serialize_map(None)?;
        if let Some(Value::Object(meta)) = m.get("metadata") {
            out.serialize_entry("metadata", &MetaInOrder(meta))?;
        }
        for (k, v) in m {
            if !matches!(k.as_str(), "kind" | "apiVersion" | "metadata" | "status") {
                out.serialize_entry(k, v)?;
            }
        }
        if let Some(status) = m.get("status") {
            out.serialize_entry("status", status)?;
        }
        out.end()
    }
}

/// Metadata in [`META_ORDER`], then its other keys as stored.
struct MetaInOrder<'a>(&'a Map<String, Value>);

impl serde::Serialize for MetaInOrder<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut out = s.serialize_map(None)?;
        for k in META_ORDER {
            if let Some(v) = self.0.get(*k) {
                out.serialize_entry(k, v)?;
            }
        }
        for (k, v) in self.0 {
            if !META_ORDER.contains(&k.as_str()) {
                out.serialize_entry(k, v)?;
            }
        }
        out.end()
    }
}

/// Check the namespace of a namespaced create.
fn check_namespace(st: &Store, ctx: &Ctx, name: &str) -> Result<(), Reply> {
    if let Some(ns) = &ctx.ns {
        if !st.namespace_exists(ns) {
            return Err(namespace_not_found(ns));
        }
        if st.namespace_terminating(ns) {
            return Err(err(
                403,
                "Forbidden",
                &format!(
                    "{} {name:?} is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                    ctx.res.group_resource()
                ),
                Some(
                    json!({"name": name, "group": ctx.res.group, "kind": ctx.res.plural, "causes": [{"reason": "NamespaceTerminating", "message": format!("namespace {ns} is being terminated"), "field": "metadata.namespace"}]}),
                ),
            ));
        }
    }
    Ok(())
}

/// Name/namespace checks of a body against the URL; fills them in when absent.
fn reconcile_identity(ctx: &Ctx, obj: &mut Value, url_name: Option<&str>) -> Result<(), Reply> {
    if !obj.is_object() {
        return Err(bad_request(
            "the body of the request was in an unknown format",
        ));
    }
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    let body_name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .map(String::from);
    if let Some(u) = url_name {
        match body_name {
            Some(b) if b != u => {
                return Err(bad_request(&format!(
                    "the name of the object ({b}) does not match the name on the URL ({u})"
                )));
            }
            _ => obj["metadata"]["name"] = json!(u),
        }
    }
    let body_ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .map(String::from);
    match (&ctx.ns, body_ns) {
        (Some(u), Some(b)) if !b.is_empty() && b != *u => {
            return Err(bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        (Some(u), _) => obj["metadata"]["namespace"] = json!(u),
        (None, _) => {
            if let Some(m) = obj["metadata"].as_object_mut() {
                m.shift_remove("namespace");
            }
        }
    }
    Ok(())
}

fn create(st: &mut Store, ctx: &Ctx, req: &Request<'_>) -> Reply {
    let mut obj = match decode_body(req) {
        Ok(o) => o,
        Err(r) => return r,
    };
    if let Err(r) = reconcile_identity(ctx, &mut obj, None) {
        return r;
    }
    if obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
        && let Some(g) = obj
            .pointer("/metadata/generateName")
            .and_then(Value::as_str)
            .map(String::from)
    {
        let suffix: String = st
            .new_uid()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(5)
            .collect();
        obj["metadata"]["name"] = json!(format!("{g}{suffix}"));
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if let Err(r) = check_namespace(st, ctx, &name) {
        return r;
    }
    if st.objects.contains_key(&ctx.key(&name)) {
        return err(
            409,
            "AlreadyExists",
            &format!("{} {name:?} already exists", ctx.res.group_resource()),
            Some(details(&ctx.res, &name)),
        );
    }
    match write(
        st,
        &ctx.res,
        None,
        obj,
        WriteOp::Update {
            manager: req.manager(),
        },
        req.dry_run(),
        None,
    ) {
        Ok(o) => Reply::Json(201, present(&ctx.res, &o)),
        Err(r) => r,
    }
}

fn update(st: &mut Store, ctx: &Ctx, req: &Request<'_>) -> Reply {
    let mut obj = match decode_body(req) {
        Ok(o) => o,
        Err(r) => return r,
    };
    if let Err(r) = reconcile_identity(ctx, &mut obj, Some(ctx.name())) {
        return r;
    }
    let Some(old) = st.objects.get(&ctx.key(ctx.name())).cloned() else {
        return not_found(&ctx.res, ctx.name());
    };
    if let Some(rv) = obj
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        && !rv.is_empty()
        && Some(rv)
            != old
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
    {
        return err(
            409,
            "Conflict",
            &format!(
                "Operation cannot be fulfilled on {} {:?}: the object has been modified; please apply your changes to the latest version and try again",
                ctx.res.group_resource(),
                ctx.name()
            ),
            Some(details(&ctx.res, ctx.name())),
        );
    }
    match write(
        st,
        &ctx.res,
        Some(&old),
        obj,
        WriteOp::Update {
            manager: req.manager(),
        },
        req.dry_run(),
        ctx.sub.as_deref(),
    ) {
        Ok(o) => Reply::Json(200, present(&ctx.res, &o)),
        Err(r) => r,
    }
}

/// RFC 7386 JSON merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            let t = target.as_object_mut().unwrap();
            for (k, v) in p {
                if v.is_null() {
                    t.shift_remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

/// Strategic merge patch: like a merge patch, but lists with a patch merge key merge by that key.
fn strategic_patch(target: &mut Value, patch: &Value, node: Option<Node<'_>>) {
    match (target.is_object(), patch) {
        (_, Value::Object(p)) => {
            if !target.is_object() {
                *target = json!({});
            }
            let t = target.as_object_mut().unwrap();
            for (k, v) in p {
                if k.starts_with("$setElementOrder") || k == "$retainKeys" {
                    continue;
                }
                if v.is_null() {
                    t.shift_remove(k);
                    continue;
                }
                let cn = schema::child(node, k);
                let key = cn.and_then(|n| match n.shape() {
                    schema::Shape::List {
                        list_type: schema::ListType::Map(keys),
                        ..
                    } => keys.first().cloned(),
                    _ => None,
                });
                match (key, v, t.get_mut(k)) {
                    (Some(key), Value::Array(items), Some(Value::Array(live))) => {
                        for it in items {
                            let kv = it.get(&key);
                            if it.get("$patch").and_then(Value::as_str) == Some("delete") {
                                live.retain(|x| x.get(&key) != kv);
                                continue;
                            }
                            match live.iter_mut().find(|x| x.get(&key) == kv) {
                                Some(x) => strategic_patch(x, it, schema::items(cn)),
                                None => live.push(it.clone()),
                            }
                        }
                    }
                    _ => strategic_patch(t.entry(k.clone()).or_insert(Value::Null), v, cn),
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

enum JsonPatchError {
    /// A `test` operation found another value.
    TestFailed,
    Other(String),
}

impl From<String> for JsonPatchError {
    fn from(s: String) -> Self {
        JsonPatchError::Other(s)
    }
}

impl From<&str> for JsonPatchError {
    fn from(s: &str) -> Self {
        JsonPatchError::Other(s.to_string())
    }
}

/// RFC 6902 JSON patch (add, remove, replace, test).
fn json_patch(target: &mut Value, ops: &Value) -> Result<(), JsonPatchError> {
    for op in ops.as_array().ok_or("json patch must be a list")? {
        let path = op["path"].as_str().ok_or("missing path")?;
        let (parent, last) = path.rsplit_once('/').ok_or("invalid path")?;
        let last = last.replace("~1", "/").replace("~0", "~");
        match op["op"].as_str().unwrap_or_default() {
            "test" => {
                if target.pointer(path) != Some(&op["value"]) {
                    return Err(JsonPatchError::TestFailed);
                }
            }
            kind @ ("add" | "replace" | "remove") => {
                let p = target
                    .pointer_mut(parent)
                    .ok_or(format!("missing path {parent}"))?;
                match p {
                    Value::Object(m) => {
                        if kind == "remove" {
                            m.shift_remove(&last)
                                .ok_or(format!("missing path {path}"))?;
                        } else {
                            m.insert(last, op["value"].clone());
                        }
                    }
                    Value::Array(a) => {
                        let i = if last == "-" {
                            a.len()
                        } else {
                            last.parse().map_err(|_| "invalid index")?
                        };
                        match kind {
                            "add" if i <= a.len() => a.insert(i, op["value"].clone()),
                            "replace" if i < a.len() => a[i] = op["value"].clone(),
                            "remove" if i < a.len() => {
                                a.remove(i);
                            }
                            _ => return Err("index out of range".into()),
                        }
                    }
                    _ => return Err(format!("invalid path {path}").into()),
                }
            }
            other => return Err(format!("unsupported op {other}").into()),
        }
    }
    Ok(())
}

fn patch(st: &mut Store, ctx: &Ctx, req: &Request<'_>) -> Reply {
    let ct = req
        .content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    let old = st.objects.get(&ctx.key(ctx.name())).cloned();
    if ct == "application/apply-patch+yaml" || ct == "application/apply-patch+cbor" {
        let manager = match req.q("fieldManager") {
            Some(m) if !m.is_empty() => m.to_string(),
            _ => return bad_request("fieldManager is required for apply requests"),
        };
        let mut applied = match decode_yaml(req.body) {
            Ok(v) => v,
            Err(e) => {
                return bad_request(&format!(
                    "error decoding YAML: error converting YAML to JSON: yaml: {e}"
                ));
            }
        };
        if let Err(r) = reconcile_identity(ctx, &mut applied, Some(ctx.name())) {
            return r;
        }
        let mut errs = Vec::new();
        schema::validate(&applied, schema_for(&ctx.res), "", &mut errs);
        if !errs.is_empty() {
            let msg = if errs.len() == 1 {
                errs[0].clone()
            } else {
                format!("errors:\n  {}", errs.join("\n  "))
            };
            let gv = if ctx.res.group.is_empty() {
                format!("/{}", ctx.res.version)
            } else {
                ctx.res.api_version()
            };
            return Reply::Json(
                500,
                status(
                    500,
                    None,
                    &format!(
                        "failed to create typed patch object ({}/{}; {gv}, Kind={}): {msg}",
                        ctx.ns.as_deref().unwrap_or_default(),
                        ctx.name(),
                        ctx.res.kind
                    ),
                    None,
                ),
            );
        }
        let force = req.flag("force");
        let node = schema_for(&ctx.res);
        let merged = match &old {
            None => applied.clone(),
            Some(o) => {
                // Conflicts first (they do not depend on the namespace).
                match apply::apply(ApplyRequest {
                    live: Some(o),
                    applied: &applied,
                    manager: &manager,
                    force,
                    subresource: ctx.sub.as_deref(),
                    has_status_subresource: ctx.res.has_status(),
                    api_version: &ctx.res.api_version(),
                    time: "",
                    node,
                }) {
                    Ok(out) => out.object,
                    Err(c) => return conflict_reply(&c),
                }
            }
        };
        if old.is_none()
            && let Err(r) = check_namespace(st, ctx, ctx.name())
        {
            return r;
        }
        let op = WriteOp::Apply {
            manager,
            force,
            applied,
        };
        return match write(
            st,
            &ctx.res,
            old.as_ref(),
            merged,
            op,
            req.dry_run(),
            ctx.sub.as_deref(),
        ) {
            Ok(o) => Reply::Json(if old.is_none() { 201 } else { 200 }, present(&ctx.res, &o)),
            Err(r) => r,
        };
    }
    let Some(old) = old else {
        return not_found(&ctx.res, ctx.name());
    };
    let body = match serde_json::from_slice::<Value>(req.body) {
        Ok(b) => b,
        Err(e) => return bad_request(&format!("error decoding patch: {e}")),
    };
    let mut new = present(&ctx.res, &old);
    match ct {
        "application/merge-patch+json" => merge_patch(&mut new, &body),
        "application/strategic-merge-patch+json" => {
            if ctx.res.custom {
                return err(
                    415,
                    "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
                    None,
                );
            }
            strategic_patch(&mut new, &body, schema_for(&ctx.res))
        }
        "application/json-patch+json" => match json_patch(&mut new, &body) {
            Ok(()) => {}
            // As recorded: the generic 422, with empty details.
            Err(JsonPatchError::TestFailed) => {
                return err(
                    422,
                    "Invalid",
                    "the server rejected our request due to an error in our request",
                    Some(json!({})),
                );
            }
            Err(JsonPatchError::Other(e)) => return err(422, "Invalid", &e, None),
        },
        other => {
            return err(
                415,
                "UnsupportedMediaType",
                &format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {other})"
                ),
                None,
            );
        }
    }
    if new.pointer("/metadata/name") != old.pointer("/metadata/name") {
        return bad_request("the name of the object does not match the name on the URL");
    }
    match write(
        st,
        &ctx.res,
        Some(&old),
        new,
        WriteOp::Update {
            manager: req.manager(),
        },
        req.dry_run(),
        ctx.sub.as_deref(),
    ) {
        Ok(o) => Reply::Json(200, present(&ctx.res, &o)),
        Err(r) => r,
    }
}

/// The `autoscaling/v1` Scale of a workload.
fn scale_of(obj: &Value) -> Value {
    let meta = &obj["metadata"];
    let selector = obj
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"], "resourceVersion": meta["resourceVersion"], "creationTimestamp": meta["creationTimestamp"]},
        "spec": {"replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(1))},
        "status": {"replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)), "selector": selector},
    })
}

/// The `scale` subresource: GET, PUT and merge/strategic PATCH of `spec.replicas`.
fn scale(st: &mut Store, ctx: &Ctx, req: &Request<'_>) -> Reply {
    let Some(old) = st.objects.get(&ctx.key(ctx.name())).cloned() else {
        return not_found(&ctx.res, ctx.name());
    };
    let current = scale_of(&old);
    let wanted = match req.method {
        "GET" => return Reply::Json(200, current),
        "PUT" => match decode_body(req) {
            Ok(v) => v,
            Err(r) => return r,
        },
        "PATCH" => {
            let body = match serde_json::from_slice::<Value>(req.body) {
                Ok(b) => b,
                Err(e) => return bad_request(&format!("error decoding patch: {e}")),
            };
            let mut s = current.clone();
            merge_patch(&mut s, &body);
            s
        }
        _ => {
            return err(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
                Some(json!({})),
            );
        }
    };
    let Some(replicas) = wanted.pointer("/spec/replicas").and_then(Value::as_i64) else {
        return err(
            422,
            "Invalid",
            "Scale.autoscaling \"\" is invalid: spec.replicas: Required value",
            None,
        );
    };
    let mut new = old.clone();
    new["spec"]["replicas"] = json!(replicas);
    match write(
        st,
        &ctx.res,
        Some(&old),
        new,
        WriteOp::Update {
            manager: req.manager(),
        },
        req.dry_run(),
        Some("scale"),
    ) {
        Ok(o) => Reply::Json(200, scale_of(&o)),
        Err(r) => r,
    }
}

/// Delete objects owned (ownerReferences) by any of `uids`, recursively.
fn collect_garbage(st: &mut Store, mut uids: Vec<String>) {
    while let Some(uid) = uids.pop() {
        let dependents: Vec<Key> = st
            .objects
            .iter()
            .filter(|(_, v)| {
                v.pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|o| o.iter().any(|r| r["uid"].as_str() == Some(uid.as_str())))
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in dependents {
            if let Some(v) = st.objects.remove(&k)
                && let Some(u) = v.pointer("/metadata/uid").and_then(Value::as_str)
            {
                uids.push(u.to_string());
            }
        }
    }
}

/// DeleteOptions from the query and the (JSON) body: (dry run, propagation policy).
fn delete_options(req: &Request<'_>) -> Result<(bool, Option<String>), Reply> {
    let mut dry = req.dry_run();
    let mut policy = req.q("propagationPolicy").map(String::from);
    if !req.body.is_empty() {
        if req.content_type.contains("protobuf") || req.content_type.contains("cbor") {
            return Err(unsupported_protobuf());
        }
        let b: Value = serde_json::from_slice(req.body)
            .map_err(|e| bad_request(&format!("invalid DeleteOptions: {e}")))?;
        if b["dryRun"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "All"))
        {
            dry = true;
        }
        if let Some(p) = b["propagationPolicy"].as_str() {
            policy = Some(p.to_string());
        } else if b["orphanDependents"].as_bool() == Some(true) {
            policy = Some("Orphan".into());
        }
    }
    Ok((dry, policy))
}

fn delete(st: &mut Store, ctx: &Ctx, req: &Request<'_>) -> Reply {
    let key = ctx.key(ctx.name());
    let Some(old) = st.objects.get(&key).cloned() else {
        return not_found(&ctx.res, ctx.name());
    };
    let (dry_run, policy) = match delete_options(req) {
        Ok(o) => o,
        Err(r) => return r,
    };
    if dry_run {
        return Reply::Json(200, present(&ctx.res, &old));
    }
    if ctx.res.group.is_empty() && ctx.res.plural == "namespaces" {
        if old.pointer("/metadata/deletionTimestamp").is_some() {
            return Reply::Json(200, present(&ctx.res, &old));
        }
        let mut ns = old.clone();
        ns["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
        ns["status"]["phase"] = json!("Terminating");
        ns["metadata"]["resourceVersion"] = json!(st.next_rv());
        let ns = canonical_order(&ctx.res, ns);
        st.objects.insert(key, ns.clone());
        let when = Instant::now() + st.namespace_delay;
        st.terminating.push((ctx.name().to_string(), when));
        return Reply::Json(200, present(&ctx.res, &ns));
    }
    st.objects.remove(&key);
    st.next_rv();
    if ctx.res.group == "apiextensions.k8s.io" && ctx.res.plural == "customresourcedefinitions" {
        let group = old
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let plural = old
            .pointer("/spec/names/plural")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        st.objects.retain(|k, _| !(k.0 == group && k.1 == plural));
    }
    if policy.as_deref() != Some("Orphan")
        && let Some(uid) = old.pointer("/metadata/uid").and_then(Value::as_str)
    {
        collect_garbage(st, vec![uid.to_string()]);
    }
    Reply::Json(200, present(&ctx.res, &old))
}

fn delete_collection(st: &mut Store, ctx: &Ctx, req: &Request<'_>) -> Reply {
    let (labels, fields) = match selectors(req) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let keys: Vec<Key> = selected(st, &ctx.res, ctx.ns.as_deref(), &labels, &fields)
        .into_iter()
        .map(|(k, _)| k.clone())
        .collect();
    let mut items = Vec::new();
    for k in keys {
        let c = Ctx {
            res: ctx.res.clone(),
            ns: ctx
                .ns
                .clone()
                .or(Some(k.2.clone()))
                .filter(|n| !n.is_empty()),
            name: Some(k.3.clone()),
            sub: None,
        };
        if let Reply::Json(200, o) = delete(st, &c, req) {
            items.push(o);
        }
    }
    Reply::Json(
        200,
        json!({"kind": format!("{}List", ctx.res.kind), "apiVersion": ctx.res.api_version(), "metadata": {"resourceVersion": st.current_rv()}, "items": items}),
    )
}

/// Current matching objects for a watch: key → object.
pub fn watch_snapshot(api: &Api, spec: &WatchSpec) -> Vec<(Key, Value)> {
    let mut st = api.store.lock().unwrap();
    st.reap(Instant::now());
    selected(
        &st,
        &spec.res,
        spec.namespace.as_deref(),
        &spec.labels,
        &spec.fields,
    )
    .into_iter()
    .map(|(k, v)| (k.clone(), present(&spec.res, v)))
    .collect()
}

fn openapi_index(custom: &[Resource]) -> Value {
    let rec = recorded();
    let mut paths = Map::new();
    if let Some(p) = rec.openapi_index["paths"].as_object() {
        for (k, v) in p {
            if rec.openapi.contains_key(k) {
                paths.insert(k.clone(), v.clone());
            }
        }
    }
    for r in custom {
        let key = format!("apis/{}/{}", r.group, r.version);
        paths.insert(
            key.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash=0")}),
        );
    }
    json!({"paths": paths})
}

/// A minimal OpenAPI document for a CRD group-version (the schemas of its kinds).
fn crd_openapi(st: &Store, key: &str) -> Value {
    let mut schemas = Map::new();
    for crd in st
        .objects
        .iter()
        .filter(|(k, _)| k.1 == "customresourcedefinitions")
        .map(|(_, v)| v)
    {
        let group = crd
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let kind = crd
            .pointer("/spec/names/kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        for v in crd
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let ver = v["name"].as_str().unwrap_or_default();
            if format!("apis/{group}/{ver}") != key {
                continue;
            }
            let mut s = v
                .pointer("/schema/openAPIV3Schema")
                .cloned()
                .unwrap_or_else(|| json!({"type": "object"}));
            s["x-kubernetes-group-version-kind"] =
                json!([{"group": group, "version": ver, "kind": kind}]);
            let rev: String = group.split('.').rev().collect::<Vec<_>>().join(".");
            schemas.insert(format!("{rev}.{ver}.{kind}"), s);
        }
    }
    json!({"openapi": "3.0.0", "info": {"title": "Kubernetes CRD Swagger", "version": "v0.1.0"}, "paths": {}, "components": {"schemas": schemas}})
}
