//! The README's YAML examples parse: berth.yaml blocks with berth's own config parser, the
//! others (workflow steps) as YAML.

use berth::source::{EntryKind, OutsideLink, Source};
use std::path::{Path, PathBuf};

/// Every path exists, as what berth asks for: the README's paths are illustrations.
struct Anything;

impl Source for Anything {
    fn kind(&self, path: &str) -> Option<EntryKind> {
        match path.ends_with(".yaml") || path.ends_with(".yml") {
            true => Some(EntryKind::File),
            false => Some(EntryKind::Dir),
        }
    }
    fn outside_link(&self, _: &str) -> Option<OutsideLink> {
        None
    }
    fn read(&self, _: &str) -> std::io::Result<Vec<u8>> {
        Ok(Vec::new())
    }
    fn files_under(&self, _: &str) -> std::io::Result<Vec<String>> {
        Ok(Vec::new())
    }
    fn on_disk(&self) -> std::io::Result<&Path> {
        Ok(Path::new("."))
    }
    fn display(&self, path: &str) -> PathBuf {
        PathBuf::from(path)
    }
}

/// `(line of the opening fence, text)` of every ```yaml block.
fn yaml_blocks(markdown: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        match (&mut open, line.trim_start()) {
            (None, fence) if fence.starts_with("```yaml") => open = Some((i + 1, String::new())),
            (Some(_), "```") => blocks.push(open.take().unwrap()),
            (Some((_, text)), _) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(open.is_none(), "an unclosed ```yaml block");
    blocks
}

#[test]
fn every_yaml_block_of_the_readme_parses() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let blocks = yaml_blocks(&readme);
    let mut configs = 0;
    for (line, text) in &blocks {
        let is_config = text.lines().any(|l| l.starts_with("apps:"));
        if is_config {
            configs += 1;
            let shown = PathBuf::from(format!("README.md (block at line {line})"));
            if let Err(problems) = berth::config::parse(&shown, text, &Anything) {
                panic!("README.md:{line}: berth.yaml example rejected:\n{problems}");
            }
        } else if let Err(e) = berth::yaml::parse_documents(text) {
            panic!(
                "README.md:{line}: invalid YAML: {} at line {:?}",
                e.message, e.line
            );
        }
    }
    assert!(configs >= 1, "the README shows no berth.yaml");
    assert!(blocks.len() >= 3, "{} YAML blocks", blocks.len());
}
