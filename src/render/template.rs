//! The `template` driver: a directory of minijinja templates (`*.yaml.j2`) and plain YAML.
//!
//! Every `*.j2` file of the directory can be included or imported by the others; those whose
//! name starts with `_` (helpers, macros) produce no output themselves. Plain `*.yaml`/`*.yml`
//! files are taken as they are.

use super::{AppInput, Manifest, parse_stream};
use crate::error::{Location, Problem, Problems};
use base64::Engine;
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior, Value as JinjaValue};
use serde_json::{Value, json};
use sha2::Digest;

pub fn render(input: &AppInput<'_>, dir: &str) -> Result<Vec<Manifest>, Problems> {
    let files = input
        .source
        .files_under(dir)
        .map_err(|e| crate::source::read_problem(&input.source.display(dir), &e))?;
    let mut env = environment();
    let mut problems = Vec::new();
    // Template name: path relative to the app directory, as includes write it.
    let mut outputs: Vec<(String, String)> = Vec::new(); // (path, template name)
    let mut plain: Vec<String> = Vec::new();
    for path in &files {
        let name = path
            .strip_prefix(dir)
            .unwrap_or(path)
            .trim_start_matches('/')
            .to_string();
        let file_name = name.rsplit('/').next().unwrap_or(&name);
        if name.ends_with(".j2") {
            let text = match read_text(input, path) {
                Ok(text) => text,
                Err(problem) => {
                    problems.push(problem);
                    continue;
                }
            };
            if let Err(err) = env.add_template_owned(name.clone(), text) {
                problems.push(template_problem(input, dir, &err));
                continue;
            }
            let is_yaml = name.ends_with(".yaml.j2") || name.ends_with(".yml.j2");
            if is_yaml && !file_name.starts_with('_') {
                outputs.push((path.clone(), name));
            }
        } else if (name.ends_with(".yaml") || name.ends_with(".yml")) && !input.is_values_file(path)
        {
            plain.push(path.clone());
        }
    }
    Problems::check(std::mem::take(&mut problems))?;

    let context = context(input);
    let mut manifests = Vec::new();
    for (path, name) in outputs {
        let rendered = env
            .get_template(&name)
            .and_then(|t| t.render(&context))
            .map_err(|err| template_problem(input, dir, &err));
        match rendered {
            Ok(text) => match parse_stream(&text, input.source.display(&path), 0) {
                Ok(found) => manifests.extend(found),
                Err(problem) => problems.push(problem.hint(
                    "the template rendered invalid YAML; check indentation around that line \
                     (`berth render` shows the output of templates that parse)",
                )),
            },
            Err(problem) => problems.push(problem),
        }
    }
    for path in plain {
        match read_text(input, &path)
            .and_then(|text| parse_stream(&text, input.source.display(&path), 0))
        {
            Ok(found) => manifests.extend(found),
            Err(problem) => problems.push(problem),
        }
    }
    Problems::check(problems)?;
    Ok(manifests)
}

fn read_text(input: &AppInput<'_>, path: &str) -> Result<String, Problem> {
    crate::source::read_text(input.source, path)
}

/// What templates see: `channel`, `app`, `namespace`, `values`, `images`, `source`.
fn context(input: &AppInput<'_>) -> JinjaValue {
    let images: serde_json::Map<String, Value> = input
        .channel
        .images
        .iter()
        .map(|pin| {
            let name = pin.new_name.as_deref().unwrap_or(&pin.name);
            let reference = match (&pin.digest, &pin.new_tag) {
                (Some(digest), _) => format!("{name}@{digest}"),
                (None, Some(tag)) => format!("{name}:{tag}"),
                (None, None) => name.to_string(),
            };
            (pin.name.clone(), Value::String(reference))
        })
        .collect();
    let context = json!({
        "channel": input.channel.name,
        "app": input.app.name,
        "namespace": input.variant.namespace,
        "values": input.values,
        "images": images,
        "source": {
            "commit": input.info.commit.clone().unwrap_or_default(),
            "short_commit": input.info.short_commit().unwrap_or_default(),
            "branch": input.info.branch.clone().unwrap_or_default(),
        },
    });
    JinjaValue::from(minijinja::value::Serde(&context))
}

/// The template environment: strict about undefined values, no HTML/JSON auto-escaping (it
/// would quote YAML scalars), final newline kept, block tags trimmed.
/// Instructions one template render may run: far above what real manifests take (a large
/// chart-like template takes well under a million), far below a runaway loop's.
pub const TEMPLATE_FUEL: u64 = 10_000_000;

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // A bound on each render, so that a runaway loop ends in an error instead of a hang.
    env.set_fuel(Some(TEMPLATE_FUEL));
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_debug(true);
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .expect("the default delimiters are valid"),
    );
    env.add_filter("b64encode", |s: String| {
        base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
    });
    env.add_filter(
        "b64decode",
        |s: String| -> Result<String, minijinja::Error> {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s.trim())
                .map_err(|e| invalid(format!("b64decode: {e}")))?;
            String::from_utf8(bytes).map_err(|_| invalid("b64decode: the result is not UTF-8"))
        },
    );
    env.add_filter("sha256", |s: String| {
        hex(&sha2::Sha256::digest(s.as_bytes()))
    });
    env.add_filter(
        "toyaml",
        |v: JinjaValue| -> Result<String, minijinja::Error> {
            let json: Value =
                serde_json::to_value(&v).map_err(|e| invalid(format!("toyaml: {e}")))?;
            // Like Helm's toYaml: no trailing newline, so `| indent(n)` composes.
            Ok(crate::yaml::to_string(&json)
                .trim_end_matches('\n')
                .to_string())
        },
    );
    env.add_filter("quote", |v: JinjaValue| {
        let text = match v.as_str() {
            Some(s) => s.to_string(),
            None => v.to_string(),
        };
        serde_json::to_string(&text).expect("a string serializes")
    });
    env.add_function(
        "fail",
        |message: String| -> Result<String, minijinja::Error> { Err(invalid(message)) },
    );
    env
}

fn invalid(message: impl Into<String>) -> minijinja::Error {
    minijinja::Error::new(ErrorKind::InvalidOperation, message.into())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A template error as a problem at the template's file:line, naming what was undefined.
fn template_problem(input: &AppInput<'_>, dir: &str, err: &minijinja::Error) -> Problem {
    // `include` and `import` wrap the included template's error: report where it happened.
    let mut err = err;
    while let Some(inner) =
        std::error::Error::source(err).and_then(|s| s.downcast_ref::<minijinja::Error>())
    {
        err = inner;
    }
    let file = input
        .source
        .display(&crate::source::join(dir, err.name().unwrap_or("?")));
    let location = Location::at(file, err.line().map(|l| l as u64), None);
    let expression = match (err.template_source(), err.range()) {
        // The span of `values.a.b` may start at `.a`: reach back to the name it hangs on.
        (Some(source), Some(range)) => {
            let start = source.get(..range.start).map(|before| {
                before
                    .trim_end_matches(|c: char| c.is_alphanumeric() || c == '_' || c == '.')
                    .len()
            });
            start.and_then(|start| source.get(start..range.end).map(str::to_string))
        }
        _ => None,
    };
    let (message, hint) = match err.kind() {
        ErrorKind::UndefinedError => {
            let what = expression.unwrap_or_else(|| "a value".into());
            (
                format!("undefined variable: `{what}`"),
                "define it in the app's values (or with --set), or give it a default: \
                 `{{ x | default(…) }}`; templates see channel, app, namespace, values, images, source"
                    .to_string(),
            )
        }
        ErrorKind::SyntaxError => (
            format!("template syntax error: {}", err.detail().unwrap_or("")),
            "check that every `{{`, `{%` and block tag is closed".to_string(),
        ),
        ErrorKind::OutOfFuel => (
            format!("the template ran too long: stopped after {TEMPLATE_FUEL} steps"),
            "look for a loop over a huge range or nested loops; templates should only shape \
             manifests"
                .to_string(),
        ),
        ErrorKind::TemplateNotFound => (
            format!("template not found: {}", err.detail().unwrap_or("")),
            format!("includes name files relative to the app directory {dir}"),
        ),
        _ => {
            let mut message = err.kind().to_string();
            if let Some(detail) = err.detail() {
                message = format!("{message}: {detail}");
            }
            if let Some(expression) = expression {
                message = format!("{message} (in `{expression}`)");
            }
            (message, "fix the template at that line".to_string())
        }
    };
    Problem::new(message).at(location).hint(hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render_str(template: &str, ctx: Value) -> Result<String, minijinja::Error> {
        let env = environment();
        env.render_str(template, minijinja::value::Serde(&ctx))
    }

    #[test]
    fn filters() {
        let out = render_str(
            "{{ 'hi' | b64encode }} {{ 'aGk=' | b64decode }} {{ 'x' | sha256 }} {{ 'yes' | quote }}",
            json!({}),
        )
        .unwrap();
        assert_eq!(
            out,
            "aGk= hi 2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881 \"yes\""
        );
        let yaml = render_str(
            "x:\n  {{ v | toyaml | indent(2) }}\n",
            json!({"v": {"a": 1, "b": "on"}}),
        )
        .unwrap();
        assert_eq!(yaml, "x:\n  a: 1\n  b: \"on\"\n");
    }

    #[test]
    fn keeps_the_final_newline_and_does_not_escape() {
        let out = render_str("a: {{ s }}\n", json!({"s": "<b>\"q\""})).unwrap();
        assert_eq!(out, "a: <b>\"q\"\n");
    }

    #[test]
    fn undefined_values_are_errors() {
        let err = render_str("a: {{ values.missing }}\n", json!({"values": {}})).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UndefinedError);
    }
}
