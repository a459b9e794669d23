//! Taking over objects deployed with client-side `kubectl apply`. Its field manager
//! (`kubectl-client-side-apply`, and `before-first-apply`) owns every field with an `Update`
//! operation, so berth's first server-side apply of the same manifest conflicts on each field it
//! would change, and fields berth later leaves out would linger, co-owned. As kubectl does when it
//! moves an object to server-side apply (client-go's csaupgrade), the old manager's fields are
//! handed to berth's Apply entry by a JSON patch of `managedFields`, guarded by a test of the
//! resourceVersion the hand-over was computed from. Only objects whose other managers are all
//! kubectl's client-side ones are taken over: a field another controller owns (an HPA's
//! replicas) still conflicts.

use crate::object::FIELD_MANAGER;
use serde_json::{Map, Value, json};

/// The managers client-side `kubectl apply` writes as.
const CLIENT_SIDE_MANAGERS: &[&str] = &["kubectl-client-side-apply", "before-first-apply"];

/// Whether berth may take `live` over from client-side `kubectl apply`: a client-side manager
/// owns some of it, and every other owner of the main resource is berth's own Apply entry
/// (subresource writers, such as a controller's status, own no field berth applies).
pub fn adoptable(live: &Value) -> bool {
    let entries = managed_fields(live);
    let main = || entries.iter().filter(|e| e.get("subresource").is_none());
    main().any(is_client_side) && main().all(|e| is_client_side(e) || is_berths(e))
}

/// The JSON patch that hands the client-side managers' fields to berth's Apply entry for
/// `api_version`: `None` when `live` is not [`adoptable`].
pub fn upgrade_patch(live: &Value, api_version: &str) -> Option<Value> {
    if !adoptable(live) {
        return None;
    }
    let resource_version = live.pointer("/metadata/resourceVersion")?.as_str()?;
    let mut fields = Value::Object(Map::new());
    let mut kept = Vec::new();
    let mut berths: Option<Value> = None;
    for entry in managed_fields(live) {
        if is_client_side(entry) {
            merge(&mut fields, &entry["fieldsV1"]);
        } else if is_berths(entry) && entry["apiVersion"] == api_version {
            merge(&mut fields, &entry["fieldsV1"]);
            berths = Some(entry.clone());
        } else {
            kept.push(entry.clone());
        }
    }
    let mut entry = berths.unwrap_or_else(|| {
        json!({"manager": FIELD_MANAGER, "operation": "Apply", "apiVersion": api_version,
            "fieldsType": "FieldsV1"})
    });
    entry["fieldsV1"] = fields;
    kept.push(entry);
    Some(json!([
        {"op": "test", "path": "/metadata/resourceVersion", "value": resource_version},
        {"op": "replace", "path": "/metadata/managedFields", "value": kept},
    ]))
}

fn managed_fields(live: &Value) -> &[Value] {
    live.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn is_client_side(entry: &Value) -> bool {
    entry["operation"] == "Update"
        && entry["manager"]
            .as_str()
            .is_some_and(|m| CLIENT_SIDE_MANAGERS.contains(&m))
}

fn is_berths(entry: &Value) -> bool {
    entry["manager"] == FIELD_MANAGER && entry["operation"] == "Apply"
}

/// The union of two field sets (`fieldsV1` maps).
fn merge(into: &mut Value, from: &Value) {
    let (Value::Object(into), Value::Object(from)) = (into, from) else {
        return;
    };
    for (key, value) in from {
        merge(
            into.entry(key.clone())
                .or_insert_with(|| Value::Object(Map::new())),
            value,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// managedFields as the recorded kube-apiserver wrote them (transcript `csa_takeover`).
    fn live(entries: Value) -> Value {
        json!({"metadata": {"name": "web", "resourceVersion": "5561", "managedFields": entries}})
    }

    fn client_side() -> Value {
        json!({"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "apps/v1",
            "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}, "f:tier": {}}},
            "f:spec": {"f:replicas": {}}}})
    }

    fn berths() -> Value {
        json!({"manager": "berth", "operation": "Apply", "apiVersion": "apps/v1", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:selector": {}}}})
    }

    fn status_writer() -> Value {
        json!({"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "apps/v1",
            "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {"f:replicas": {}}}, "subresource": "status"})
    }

    #[test]
    fn client_side_fields_pass_to_berths_apply_entry_guarded_by_the_resource_version() {
        let object = live(json!([berths(), client_side(), status_writer()]));
        let patch = upgrade_patch(&object, "apps/v1").unwrap();
        assert_eq!(
            patch[0],
            json!({"op": "test", "path": "/metadata/resourceVersion", "value": "5561"})
        );
        let entries = patch[1]["value"].as_array().unwrap();
        assert_eq!(entries.len(), 2, "{entries:?}");
        assert_eq!(entries[0], status_writer());
        assert_eq!(entries[1]["manager"], "berth");
        assert_eq!(
            entries[1]["fieldsV1"],
            json!({"f:metadata": {"f:labels": {"f:app": {}, ".": {}, "f:tier": {}}},
                "f:spec": {"f:selector": {}, "f:replicas": {}}})
        );
        // Without an entry of berth's, one is made.
        let fresh = upgrade_patch(&live(json!([client_side()])), "apps/v1").unwrap();
        assert_eq!(fresh[1]["value"][0]["operation"], "Apply");
        assert_eq!(fresh[1]["value"][0]["fieldsV1"], client_side()["fieldsV1"]);
    }

    #[test]
    fn objects_other_managers_write_are_not_taken_over() {
        let hpa = json!({"manager": "kube-controller-manager", "operation": "Update",
            "apiVersion": "apps/v1", "fieldsV1": {"f:spec": {"f:replicas": {}}}});
        assert!(!adoptable(&live(json!([client_side(), hpa]))));
        let edited = json!({"manager": "kubectl-edit", "operation": "Update", "fieldsV1": {}});
        assert!(!adoptable(&live(json!([client_side(), edited]))));
        // Nothing client-side: nothing to take over.
        assert!(!adoptable(&live(json!([berths(), status_writer()]))));
        assert!(upgrade_patch(&live(json!([berths()])), "apps/v1").is_none());
        // A server-side `kubectl apply` is an Apply, not client-side.
        let server_side =
            json!({"manager": "kubectl-client-side-apply", "operation": "Apply", "fieldsV1": {}});
        assert!(!adoptable(&live(json!([server_side]))));
    }
}
