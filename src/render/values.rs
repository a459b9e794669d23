//! Values: the app's files, then the channel's files, then `--set`, each layered over the last
//! (maps merge key by key; anything else, lists included, is replaced, as Helm does).

use crate::config::{Channel, Variant};
use crate::error::{Location, Problem, Problems};
use crate::source::Source;
use serde_json::{Map, Value};

/// One `--set key.path=value`.
#[derive(Debug, Clone, PartialEq)]
pub struct SetValue {
    pub path: Vec<String>,
    pub value: Value,
}

impl std::str::FromStr for SetValue {
    type Err = String;

    /// `a.b=c`; `\.` keeps a dot in a key; the value is read as a YAML scalar or flow collection
    /// (`3` is a number, `true` a boolean, `[a, b]` a list), else taken as a string.
    fn from_str(text: &str) -> Result<Self, String> {
        let (key, raw) = text
            .split_once('=')
            .ok_or_else(|| format!("`{text}` is not key=value"))?;
        let mut path = Vec::new();
        let mut current = String::new();
        let mut chars = key.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&'.') => {
                    current.push('.');
                    chars.next();
                }
                '.' => path.push(std::mem::take(&mut current)),
                c => current.push(c),
            }
        }
        path.push(current);
        if path.iter().any(String::is_empty) {
            return Err(format!("`{key}` has an empty key part"));
        }
        let value = if raw.is_empty() {
            Value::String(String::new())
        } else {
            crate::yaml::from_str::<Value>(raw).unwrap_or_else(|_| Value::String(raw.to_string()))
        };
        Ok(SetValue { path, value })
    }
}

/// Merge `over` into `base`: maps key by key, everything else replaced.
pub fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(base), Value::Object(over)) => {
            for (key, value) in over {
                match base.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, over) => *base = over,
    }
}

/// The values of `app` in `channel`.
pub fn layer(
    app: &Variant,
    channel: &Channel,
    source: &dyn Source,
    sets: &[SetValue],
) -> Result<Value, Problems> {
    let mut values = Value::Object(Map::new());
    let mut problems = Vec::new();
    let app_files = app
        .values
        .iter()
        // A missing optional file was checked with the config: it is meant to be absent.
        .filter(|f| !f.optional || source.kind(&f.path).is_some())
        .map(|f| &f.path);
    for file in app_files.chain(&channel.values) {
        match read_values_file(source, file) {
            Ok(layer) => merge(&mut values, layer),
            Err(problem) => problems.push(problem),
        }
    }
    Problems::check(problems)?;
    for set in sets {
        set_path(&mut values, &set.path, set.value.clone());
    }
    Ok(values)
}

/// Set the values path `path` (`["a", "b", "c"]` for `a.b.c`) of `values` to `value`, as
/// `--set a.b.c=value` does.
pub fn set_path<K: AsRef<str>>(values: &mut Value, path: &[K], value: Value) {
    let mut layer = value;
    for key in path.iter().rev() {
        let mut map = Map::new();
        map.insert(key.as_ref().to_string(), layer);
        layer = Value::Object(map);
    }
    merge(values, layer);
}

fn read_values_file(source: &dyn Source, path: &str) -> Result<Value, Problem> {
    let shown = source.display(path);
    let text = crate::source::read_text(source, path)?;
    if text.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let value: Value = crate::yaml::from_str(&text).map_err(|e| {
        Problem::new(format!("invalid YAML: {}", e.message))
            .at(Location::at(&shown, e.line, e.column))
            .hint("a values file is one YAML mapping")
    })?;
    match value {
        Value::Object(_) => Ok(value),
        Value::Null => Ok(Value::Object(Map::new())),
        _ => Err(Problem::new("a values file must hold a mapping at the top")
            .in_file(&shown)
            .hint("write `key: value` pairs")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_values_parse_paths_and_scalars() {
        let set: SetValue = "image.tag=1.2.3".parse().unwrap();
        assert_eq!(set.path, ["image", "tag"]);
        assert_eq!(set.value, json!("1.2.3"));
        assert_eq!("replicas=3".parse::<SetValue>().unwrap().value, json!(3));
        assert_eq!("on=true".parse::<SetValue>().unwrap().value, json!(true));
        assert_eq!(
            "l=[a, b]".parse::<SetValue>().unwrap().value,
            json!(["a", "b"])
        );
        assert_eq!("s=".parse::<SetValue>().unwrap().value, json!(""));
        let dotted: SetValue = r"annotations.example\.com/x=y".parse().unwrap();
        assert_eq!(dotted.path, ["annotations", "example.com/x"]);
        assert!("novalue".parse::<SetValue>().is_err());
        assert!("a..b=1".parse::<SetValue>().is_err());
    }

    #[test]
    fn merge_layers_maps_and_replaces_the_rest() {
        let mut base = json!({"a": {"b": 1, "c": [1, 2]}, "d": "x"});
        merge(&mut base, json!({"a": {"c": [3], "e": true}, "d": null}));
        assert_eq!(base, json!({"a": {"b": 1, "c": [3], "e": true}, "d": null}));
    }
}
