//! The 422 `Invalid` checks the recordings show (names, Deployment selector), plus a few obvious ones.

use serde_json::{Value, json};

/// One invalid field: (reason, message, field).
pub type Cause = (String, String, String);

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

pub fn is_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_label)
}

fn is_dns1035(s: &str) -> bool {
    is_label(s) && s.as_bytes()[0].is_ascii_lowercase()
}

fn invalid(field: &str, value: &Value, detail: &str) -> Cause {
    let v = serde_json::to_string(value).unwrap_or_default();
    (
        "FieldValueInvalid".into(),
        format!("Invalid value: {v}: {detail}"),
        field.into(),
    )
}

fn required(field: &str) -> Cause {
    (
        "FieldValueRequired".into(),
        "Required value".into(),
        field.into(),
    )
}

fn selector_matches(selector: &Value, labels: &Value) -> bool {
    let empty = serde_json::Map::new();
    let labels = labels.as_object().unwrap_or(&empty);
    if let Some(ml) = selector.get("matchLabels").and_then(Value::as_object)
        && ml.iter().any(|(k, v)| labels.get(k) != Some(v))
    {
        return false;
    }
    if let Some(exprs) = selector.get("matchExpressions").and_then(Value::as_array) {
        for e in exprs {
            let key = e["key"].as_str().unwrap_or_default();
            let vals: Vec<&str> = e["values"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let have = labels.get(key).and_then(Value::as_str);
            let ok = match e["operator"].as_str().unwrap_or_default() {
                "In" => have.is_some_and(|h| vals.contains(&h)),
                "NotIn" => have.is_none_or(|h| !vals.contains(&h)),
                "Exists" => have.is_some(),
                "DoesNotExist" => have.is_none(),
                _ => false,
            };
            if !ok {
                return false;
            }
        }
    }
    true
}

fn pod_spec(spec: &Value, prefix: &str, causes: &mut Vec<Cause>) {
    match spec.get("containers").and_then(Value::as_array) {
        Some(cs) if !cs.is_empty() => {
            for (i, c) in cs.iter().enumerate() {
                let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
                if name.is_empty() {
                    causes.push(required(&format!("{prefix}.containers[{i}].name")));
                } else if !is_label(name) {
                    causes.push(invalid(
                        &format!("{prefix}.containers[{i}].name"),
                        &json!(name),
                        LABEL_MSG,
                    ));
                }
                if c.get("image")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .is_empty()
                {
                    causes.push(required(&format!("{prefix}.containers[{i}].image")));
                }
            }
        }
        _ => causes.push(required(&format!("{prefix}.containers"))),
    }
}

/// Validate an object (after defaults); empty when valid.
pub fn validate(group: &str, kind: &str, obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if name.is_empty() {
        causes.push(required("metadata.name"));
    } else {
        let (ok, msg) = match (group, kind) {
            ("", "Namespace") => (is_label(name), LABEL_MSG),
            ("", "Service") => (is_dns1035(name), DNS1035_MSG),
            ("rbac.authorization.k8s.io", _) => (
                !name.contains('/') && !name.contains('%'),
                "may not contain '/' or '%'",
            ),
            _ => (is_subdomain(name), SUBDOMAIN_MSG),
        };
        if !ok {
            causes.push(invalid("metadata.name", &json!(name), msg));
        }
    }
    if let Some(labels) = obj.pointer("/metadata/labels").and_then(Value::as_object) {
        for (k, v) in labels {
            let val = v.as_str().unwrap_or_default();
            let ok = val.len() <= 63
                && val
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
                && (val.is_empty()
                    || (val.as_bytes()[0].is_ascii_alphanumeric()
                        && val.as_bytes()[val.len() - 1].is_ascii_alphanumeric()));
            if !ok {
                causes.push(invalid(
                    "metadata.labels",
                    &json!(val),
                    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
                ));
                let _ = k;
            }
        }
    }
    if group == "apps"
        && matches!(
            kind,
            "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet"
        )
    {
        let labels = obj
            .pointer("/spec/template/metadata/labels")
            .cloned()
            .unwrap_or(Value::Null);
        match obj.pointer("/spec/selector") {
            None | Some(Value::Null) => {
                causes.push(required("spec.selector"));
                causes.push(invalid(
                    "spec.template.metadata.labels",
                    &labels,
                    "`selector` does not match template `labels`",
                ));
            }
            Some(sel) => {
                let empty = sel
                    .get("matchLabels")
                    .and_then(Value::as_object)
                    .is_none_or(|m| m.is_empty())
                    && sel
                        .get("matchExpressions")
                        .and_then(Value::as_array)
                        .is_none_or(|m| m.is_empty());
                if empty {
                    causes.push(invalid(
                        "spec.selector",
                        sel,
                        "empty selector is invalid for deployment",
                    ));
                } else if !selector_matches(sel, &labels) {
                    causes.push(invalid(
                        "spec.template.metadata.labels",
                        &labels,
                        "`selector` does not match template `labels`",
                    ));
                }
            }
        }
        if let Some(r) = obj.pointer("/spec/replicas").and_then(Value::as_i64)
            && r < 0
        {
            causes.push(invalid(
                "spec.replicas",
                &json!(r),
                "must be greater than or equal to 0",
            ));
        }
        if let Some(spec) = obj.pointer("/spec/template/spec") {
            pod_spec(spec, "spec.template.spec", &mut causes);
        }
    }
    if group.is_empty()
        && kind == "Pod"
        && let Some(spec) = obj.get("spec")
    {
        pod_spec(spec, "spec", &mut causes);
    }
    if group.is_empty()
        && kind == "Service"
        && let Some(ports) = obj.pointer("/spec/ports").and_then(Value::as_array)
    {
        for (i, p) in ports.iter().enumerate() {
            if p.get("port")
                .and_then(Value::as_i64)
                .is_none_or(|n| !(1..=65535).contains(&n))
            {
                causes.push(required(&format!("spec.ports[{i}].port")));
            }
        }
    }
    causes
}
