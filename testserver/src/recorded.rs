//! Access to the recordings in `shared/k8s-recorded` (discovery and OpenAPI documents).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use serde_json::Value;

/// Directory of the recorded kube-apiserver traffic.
///
/// `BERTH_K8S_RECORDED` overrides it; by default it is `shared/k8s-recorded` beside the repository
/// (`<repo>/../shared/k8s-recorded`).
pub fn recorded_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BERTH_K8S_RECORDED") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/k8s-recorded")
}

/// The recorded documents, loaded once per process.
pub struct Recorded {
    /// Legacy discovery documents by path (`/api`, `/api/v1`, `/apis`, `/apis/apps/v1`, `/version`).
    pub discovery: HashMap<String, Value>,
    /// Aggregated discovery for `/api`.
    pub aggregated_api: Value,
    /// Aggregated discovery for `/apis`.
    pub aggregated_apis: Value,
    /// OpenAPI v3 index (`/openapi/v3`).
    pub openapi_index: Value,
    /// OpenAPI v3 documents by group-version path (`api/v1`, `apis/apps/v1`).
    pub openapi: HashMap<String, Arc<Value>>,
    /// Raw bytes of the OpenAPI documents (served as-is).
    pub openapi_raw: HashMap<String, Arc<Vec<u8>>>,
}

static RECORDED: OnceLock<Recorded> = OnceLock::new();

/// The recordings (panics with a clear message when the directory is missing).
pub fn recorded() -> &'static Recorded {
    RECORDED.get_or_init(|| load().unwrap_or_else(|e| panic!("{e:#}")))
}

fn read_json(path: &std::path::Path) -> anyhow::Result<Value> {
    let text = std::fs::read(path)
        .map_err(|e| anyhow::anyhow!("cannot read recorded file {}: {e}", path.display()))?;
    Ok(serde_json::from_slice(&text)?)
}

fn load() -> anyhow::Result<Recorded> {
    let dir = recorded_dir();
    if !dir.join("discovery").is_dir() {
        anyhow::bail!(
            "the recorded kube-apiserver traffic is not at {} (set BERTH_K8S_RECORDED or clone `shared/` beside the repository)",
            dir.display()
        );
    }
    let mut discovery = HashMap::new();
    let mut aggregated_api = Value::Null;
    let mut aggregated_apis = Value::Null;
    for entry in std::fs::read_dir(dir.join("discovery"))? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let doc = read_json(&path)?;
        let file = path.file_stem().unwrap().to_string_lossy().to_string();
        let body = doc["body"].clone();
        match file.as_str() {
            "aggregated_api" => aggregated_api = body,
            "aggregated_apis" => aggregated_apis = body,
            _ => {
                let p = doc["path"].as_str().unwrap_or_default().to_string();
                discovery.insert(p, body);
            }
        }
    }
    let mut openapi = HashMap::new();
    let mut openapi_raw = HashMap::new();
    let mut openapi_index = Value::Null;
    for entry in std::fs::read_dir(dir.join("openapi-v3"))? {
        let path = entry?.path();
        let file = path.file_stem().unwrap().to_string_lossy().to_string();
        let raw = std::fs::read(&path)?;
        let doc: Value = serde_json::from_slice(&raw)?;
        if file == "index" {
            openapi_index = doc;
            continue;
        }
        let key = if let Some(rest) = file.strip_prefix("api_") {
            format!("api/{rest}")
        } else if let Some(rest) = file.strip_prefix("apis_") {
            match rest.rsplit_once('_') {
                Some((g, v)) => format!("apis/{g}/{v}"),
                None => format!("apis/{rest}"),
            }
        } else {
            continue;
        };
        openapi_raw.insert(key.clone(), Arc::new(raw));
        openapi.insert(key, Arc::new(doc));
    }
    Ok(Recorded {
        discovery,
        aggregated_api,
        aggregated_apis,
        openapi_index,
        openapi,
        openapi_raw,
    })
}
