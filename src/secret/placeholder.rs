//! Helm values from secret sources (`secretValues:` of a Helm app). The candidate is rendered
//! with a placeholder in place of each such value; at diff and apply time the placeholder is
//! replaced by the value read from its source, in the `data` (base64-decoded, replaced,
//! encoded again) and `stringData` of the app's Secrets, and nowhere else. A placeholder found
//! anywhere else is refused at render time: there the value would be shown by every diff and
//! by `kubectl get` of an object that is not a Secret.
//!
//! A placeholder is `berthsecret` and 24 hex digits of a hash of the app and values path: only
//! lowercase letters and digits, so that a chart's own checks of a password (length, letters
//! and digits) pass; always as long, so that none is a part of another; the same on every
//! render, so that candidates stay reproducible. It hides no value: it is derived from names.

use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};

const PREFIX: &str = "berthsecret";

/// The placeholder of the values path `path` (e.g. `auth.password`) of `app`.
pub fn placeholder(app: &str, path: &str) -> String {
    let digest = format!("{:x}", Sha256::digest(format!("{app}\0{path}")));
    format!("{PREFIX}{}", &digest[..24])
}

/// The fields of a Secret whose values are substituted.
const FILLED: [&str; 2] = ["data", "stringData"];

/// The text of a Secret value: base64-decoded for `data`.
fn text_of(field: &str, value: &Value) -> Option<Vec<u8>> {
    let text = value.as_str()?;
    match field {
        "data" => base64::engine::general_purpose::STANDARD.decode(text).ok(),
        _ => Some(text.as_bytes().to_vec()),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Where in `object` (as `.a.b[0]` field paths) one of `placeholders` sits that substitution
/// never reaches: anywhere but a Secret's `data` and `stringData`.
pub fn misplaced(object: &Value, is_secret: bool, placeholders: &[String]) -> Vec<String> {
    fn walk(value: &Value, at: String, placeholders: &[String], found: &mut Vec<String>) {
        match value {
            Value::String(text) if placeholders.iter().any(|p| text.contains(p.as_str())) => {
                found.push(at);
            }
            Value::Object(map) => {
                for (key, child) in map {
                    walk(child, format!("{at}.{key}"), placeholders, found);
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    walk(child, format!("{at}[{i}]"), placeholders, found);
                }
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    let Some(map) = object.as_object() else {
        return found;
    };
    for (key, child) in map {
        if !(is_secret && FILLED.contains(&key.as_str())) {
            walk(child, format!(".{key}"), placeholders, &mut found);
        }
    }
    found
}

/// Which of `placeholders` the Secret `object` holds in its `data` or `stringData`.
pub fn used(object: &Value, placeholders: &[String]) -> Vec<bool> {
    let texts: Vec<Vec<u8>> = FILLED
        .iter()
        .filter_map(|field| Some((field, object.get(field)?.as_object()?)))
        .flat_map(|(field, map)| map.values().filter_map(|v| text_of(field, v)))
        .collect();
    placeholders
        .iter()
        .map(|p| texts.iter().any(|t| contains(t, p.as_bytes())))
        .collect()
}

/// Whether every value of the Secret `object` holds one of `placeholders`: it holds no value
/// that would otherwise be committed to git.
pub fn only_placeholders(object: &serde_json::Map<String, Value>, placeholders: &[String]) -> bool {
    FILLED
        .iter()
        .filter_map(|field| Some((field, object.get(*field)?.as_object()?)))
        .all(|(field, map)| {
            map.values().all(|v| {
                text_of(field, v)
                    .is_some_and(|t| placeholders.iter().any(|p| contains(&t, p.as_bytes())))
            })
        })
}

/// Replace every placeholder of `values` (placeholder, value) in the `data` and `stringData`
/// of the Secret `object`.
pub fn substitute(object: &mut Value, values: &[(String, Vec<u8>)]) {
    for field in FILLED {
        let Some(map) = object.get_mut(field).and_then(Value::as_object_mut) else {
            continue;
        };
        for value in map.values_mut() {
            let Some(mut text) = text_of(field, value) else {
                continue;
            };
            for (placeholder, secret) in values {
                text = replace(&text, placeholder.as_bytes(), secret);
            }
            *value = Value::String(match field {
                "data" => base64::engine::general_purpose::STANDARD.encode(&text),
                _ => String::from_utf8_lossy(&text).into_owned(),
            });
        }
    }
}

fn replace(text: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    #[test]
    fn placeholders_are_stable_distinct_letters_and_digits_of_one_length() {
        let a = placeholder("db", "auth.password");
        assert_eq!(a, placeholder("db", "auth.password"));
        assert_ne!(a, placeholder("db", "auth.passwor"));
        assert_ne!(a, placeholder("web", "auth.password"));
        assert_eq!(a.len(), placeholder("x", "y").len());
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
    }

    #[test]
    fn values_are_substituted_in_data_decoded_and_in_string_data_only() {
        let p = placeholder("db", "auth.password");
        let q = placeholder("db", "auth.user");
        let mut secret = json!({
            "kind": "Secret",
            "metadata": {"annotations": {"note": p}},
            "data": {"password": b64(&p), "dsn": b64(&format!("pg://{q}:{p}@db/x"))},
            "stringData": {"config": format!("password={p}")},
        });
        let placeholders = [p.clone(), q.clone()];
        assert_eq!(
            misplaced(&secret, true, &placeholders),
            [".metadata.annotations.note"]
        );
        assert_eq!(used(&secret, &placeholders), [true, true]);
        assert!(only_placeholders(
            secret.as_object().unwrap(),
            &placeholders
        ));
        substitute(
            &mut secret,
            &[
                (p.clone(), b"s3cr3t!".to_vec()),
                (q.clone(), b"admin".to_vec()),
            ],
        );
        assert_eq!(secret["data"]["password"], b64("s3cr3t!"));
        assert_eq!(secret["data"]["dsn"], b64("pg://admin:s3cr3t!@db/x"));
        assert_eq!(secret["stringData"]["config"], "password=s3cr3t!");
        assert_eq!(secret["metadata"]["annotations"]["note"], p.as_str());
    }

    #[test]
    fn a_literal_value_or_a_placeholder_outside_a_secret_is_found() {
        let p = placeholder("db", "auth.password");
        let secret = json!({"data": {"password": b64(&p), "user": b64("admin")}});
        assert!(!only_placeholders(
            secret.as_object().unwrap(),
            std::slice::from_ref(&p)
        ));
        let config_map =
            json!({"data": {"url": format!("pg://x:{p}@db")}, "spec": {"env": [{"value": p}]}});
        assert_eq!(
            misplaced(&config_map, false, std::slice::from_ref(&p)),
            [".data.url", ".spec.env[0].value"]
        );
        assert_eq!(used(&secret, &[placeholder("db", "other")]), [false]);
    }
}
