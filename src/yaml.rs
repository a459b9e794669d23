//! YAML in and out, the way kubectl reads it and the rendered tree stores it.
//!
//! Parsing follows YAML 1.1 as kubectl does (`yes`/`on` are booleans, `0644` is octal 420).
//! Writing produces the canonical form of the rendered tree: keys in a fixed order, and every
//! string a YAML 1.1 reader could misread (`yes`, `on`, `0777`, `1e3`, dates) quoted.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Limits far above serde-saphyr's defaults (1,024 documents, 250k nodes): real CRD bundles
/// exceed both. Still finite, so a runaway template cannot exhaust memory.
///
/// Aliases are the exception: real manifests alias a few labels, while a "billion laughs"
/// document replays each level ten times over, and serde-saphyr's defaults (a million events)
/// let it run for many seconds before stopping it.
const MAX_ALIAS_EVENTS: usize = 100_000;

fn parse_options() -> serde_saphyr::Options {
    // `options!` holds an `Rc` and is not `Send`: build it per call.
    serde_saphyr::options! {
        legacy_octal_numbers: true,
        budget: serde_saphyr::budget! {
            max_documents: 100_000,
            max_nodes: 20_000_000,
            max_events: 100_000_000,
            max_depth: 256,
            max_recorded_anchor_events: MAX_ALIAS_EVENTS,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: MAX_ALIAS_EVENTS,
        },
    }
}

/// A YAML syntax or type error, positioned in the text it came from (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub line: Option<u64>,
    pub column: Option<u64>,
    pub message: String,
}

impl YamlError {
    fn from_saphyr(err: &serde_saphyr::Error, line_offset: u64) -> Self {
        let location = err.location().filter(|l| l.line() > 0);
        let plain = err.render_with_options(serde_saphyr::render_options! {
            snippets: serde_saphyr::SnippetMode::Off,
        });
        YamlError {
            line: location.map(|l| l.line() + line_offset),
            column: location.map(|l| l.column()),
            message: limit_message(&plain).unwrap_or_else(|| strip_location_suffix(&plain)),
        }
    }
}

/// A breach of [`parse_options`]' limits in words: serde-saphyr names its internal counter.
fn limit_message(message: &str) -> Option<String> {
    let breach = message.strip_prefix("budget breached: ")?;
    let what = breach.split([' ', '{']).next().unwrap_or(breach);
    Some(format!(
        "the YAML exceeds berth's limits ({what}): aliases may expand to at most \
         {MAX_ALIAS_EVENTS} events, and a document may nest at most 256 levels deep"
    ))
}

/// serde-saphyr appends " at line L, column C" to plain messages; the location is reported
/// separately (shifted to the whole file), so drop it from the text.
fn strip_location_suffix(message: &str) -> String {
    let first = message.lines().next().unwrap_or(message);
    match first.rfind(" at line ") {
        Some(at) => first[..at].to_string(),
        None => first.to_string(),
    }
}

/// Deserialize one YAML document (e.g. berth.yaml) into `T`.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    serde_saphyr::from_str_with_options(text, parse_options())
        .map_err(|e| YamlError::from_saphyr(&e, 0))
}

/// One document of a multi-document stream, with the line it starts on (1-based).
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub line: u64,
    pub value: Value,
}

/// Split a stream on `---` lines (as kubectl's YAML reader does), parse each document, and drop
/// empty ones (only comments, or `null`). Errors carry the line in the whole stream.
pub fn parse_documents(text: &str) -> Result<Vec<Document>, YamlError> {
    let mut documents = Vec::new();
    for (start_line, chunk) in split_documents(text) {
        if chunk.trim().is_empty() {
            continue;
        }
        let value: Value = serde_saphyr::from_str_with_options(chunk, parse_options())
            .map_err(|e| YamlError::from_saphyr(&e, start_line - 1))?;
        if !value.is_null() {
            documents.push(Document {
                line: start_line,
                value,
            });
        }
    }
    Ok(documents)
}

/// Chunks of `text` between document markers, each with its first line number (1-based).
/// Content after `---` on the same line (`--- {a: 1}`) stays with its document.
fn split_documents(text: &str) -> Vec<(u64, &str)> {
    let mut chunks = Vec::new();
    let mut start = 0usize;
    let mut start_line = 1u64;
    let mut offset = 0usize;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let line_no = index as u64 + 1;
        let bare = line.trim_end_matches(['\n', '\r']);
        let is_marker =
            bare == "---" || bare.starts_with("--- ") || bare.starts_with("---\t") || bare == "...";
        if is_marker {
            chunks.push((start_line, &text[start..offset]));
            if bare == "..." || bare[3..].trim().is_empty() {
                // The next document starts on the next line.
                start = offset + line.len();
                start_line = line_no + 1;
            } else {
                start = offset + 3;
                start_line = line_no;
            }
        }
        offset += line.len();
    }
    chunks.push((start_line, &text[start..]));
    chunks
}

/// Serialize a value as YAML that YAML 1.1 readers (kubectl, Argo CD, Flux) read back as the same
/// value. Multi-line strings become literal blocks; long single-line strings are never folded,
/// so a diff of one value stays one line.
pub fn to_string<T: serde::Serialize>(value: &T) -> String {
    let options = serde_saphyr::ser_options! {
        indent_step: 2,
        compact_list_indent: true,
        folded_wrap_chars: usize::MAX,
        min_fold_chars: usize::MAX,
    };
    serde_saphyr::to_string_with_options(value, options)
        .expect("a JSON value always serializes to YAML")
}

/// Keys that lead a Kubernetes object or its metadata, in the order people read them.
const OBJECT_KEYS_FIRST: &[&str] = &["apiVersion", "kind", "metadata"];
const METADATA_KEYS_FIRST: &[&str] = &["name", "namespace", "labels", "annotations"];

/// Put an object's keys in canonical order: `apiVersion, kind, metadata` first and
/// `name, namespace, labels, annotations` first in metadata; every other mapping sorted by key.
/// The order a template or chart happened to write keys in never shows as a change.
pub fn canonicalize_object(object: &mut Value) {
    if let Value::Object(map) = object {
        sort_with_leading(map, OBJECT_KEYS_FIRST);
        for (key, child) in map.iter_mut() {
            if key == "metadata" {
                if let Value::Object(meta) = child {
                    sort_with_leading(meta, METADATA_KEYS_FIRST);
                    for v in meta.values_mut() {
                        sort_recursively(v);
                    }
                }
            } else {
                sort_recursively(child);
            }
        }
    }
}

/// Sorted by key, but `name` leads the items of a list (containers, ports, env, volumes), so
/// each item reads and diffs as "which one, then what".
fn sort_recursively(value: &mut Value) {
    sort_nested(value, false);
}

fn sort_nested(value: &mut Value, list_item: bool) {
    match value {
        Value::Object(map) => {
            if list_item {
                sort_with_leading(map, &["name"]);
            } else {
                map.sort_keys();
            }
            for v in map.values_mut() {
                sort_nested(v, false);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| sort_nested(v, true)),
        _ => {}
    }
}

fn sort_with_leading(map: &mut Map<String, Value>, leading: &[&str]) {
    let rank = |k: &str| {
        leading
            .iter()
            .position(|l| *l == k)
            .unwrap_or(leading.len())
    };
    let mut entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
    entries.sort_by(|(ka, _), (kb, _)| rank(ka).cmp(&rank(kb)).then_with(|| ka.cmp(kb)));
    map.extend(entries);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_like_kubectl() {
        let docs = parse_documents("mode: 0644\nflag: yes\nhex: 0x1F\n").unwrap();
        assert_eq!(docs[0].value, json!({"mode": 420, "flag": true, "hex": 31}));
    }

    #[test]
    fn splits_streams_and_drops_empty_documents() {
        let text =
            "# leading comment\n---\na: 1\n---\n# only a comment\n---\n\n--- {b: 2}\n...\nc: 3\n";
        let docs = parse_documents(text).unwrap();
        let lines: Vec<u64> = docs.iter().map(|d| d.line).collect();
        let values: Vec<&Value> = docs.iter().map(|d| &d.value).collect();
        assert_eq!(
            values,
            [&json!({"a": 1}), &json!({"b": 2}), &json!({"c": 3})]
        );
        assert_eq!(lines, [3, 8, 10]);
    }

    #[test]
    fn a_marker_inside_a_block_scalar_is_content() {
        let docs = parse_documents("data:\n  x: |\n    ---\n    y\n").unwrap();
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].value, json!({"data": {"x": "---\ny\n"}}));
    }

    #[test]
    fn errors_carry_the_line_in_the_whole_stream() {
        let err = parse_documents("a: 1\n---\nb: 2\nc: [unclosed\n").unwrap_err();
        assert!(err.line.unwrap() >= 4, "{err:?}");
        assert!(!err.message.contains(" at line "), "{err:?}");
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let err = parse_documents("a: 1\na: 2\n").unwrap_err();
        assert_eq!(err.line, Some(2), "{err:?}");
    }

    #[test]
    fn writes_yaml_1_1_ambiguous_strings_quoted() {
        let value = json!({"a": "yes", "b": "on", "c": "0777", "d": "1e3", "e": "2001-12-14",
            "f": "12:30", "g": "null", "h": "~", "i": "plain", "j": "N"});
        let text = to_string(&value);
        for quoted in [
            "\"yes\"",
            "\"on\"",
            "\"0777\"",
            "\"1e3\"",
            "\"2001-12-14\"",
            "\"12:30\"",
            "\"null\"",
            "\"~\"",
            "\"N\"",
        ] {
            let single = quoted.replace('"', "'");
            assert!(
                text.contains(quoted) || text.contains(&single),
                "{quoted} not quoted in:\n{text}"
            );
        }
        assert!(text.contains("i: plain"), "{text}");
        // And it reads back as the same value, with kubectl's rules.
        assert_eq!(parse_documents(&text).unwrap()[0].value, value);
    }

    #[test]
    fn multi_line_strings_are_literal_blocks_and_long_lines_are_not_folded() {
        let long = "x ".repeat(100);
        let value = json!({"script": "set -e\necho hi\n", "long": long.trim_end()});
        let text = to_string(&value);
        assert!(text.contains("script: |\n  set -e\n  echo hi\n"), "{text}");
        assert!(!text.contains("long: >"), "{text}");
        assert_eq!(parse_documents(&text).unwrap()[0].value, value);
    }

    #[test]
    fn canonical_order_leads_with_identity_then_sorts() {
        let mut object = json!({
            "spec": {"z": 1, "a": {"d": 1, "c": 2}, "l": [{"image": "x", "name": "main"}]},
            "metadata": {"labels": {"b": "1", "a": "2"}, "name": "web", "annotations": {}, "namespace": "ns"},
            "kind": "ConfigMap",
            "apiVersion": "v1"
        });
        canonicalize_object(&mut object);
        let text = to_string(&object);
        assert_eq!(
            text,
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  namespace: ns\n  labels:\n    a: \"2\"\n    b: \"1\"\n  annotations: {}\nspec:\n  a:\n    c: 2\n    d: 1\n  l:\n  - name: main\n    image: x\n  z: 1\n"
        );
    }
}
