//! The example workflows call berth only with commands and flags it has (actionlint in
//! `.ci/run` checks the rest of them).

use crate::support::*;

#[test]
fn the_example_workflows_use_only_flags_berth_has() {
    let dir = example("quickstart").join(".github/workflows");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        // A command may continue over lines ending in `\`.
        let joined = text.replace("\\\n", " ");
        for line in joined.lines() {
            let Some(at) = line.find("berth ").filter(|_| !line.contains("install")) else {
                continue;
            };
            let words: Vec<&str> = line[at..].split_whitespace().collect();
            let (Some(command), true) = (words.get(1), words[0] == "berth") else {
                continue;
            };
            if command.starts_with('-') || command.contains('.') {
                continue; // prose, e.g. "berth's"
            }
            let help = berth(&dir, &[command, "--help"]);
            help.succeeds();
            for flag in words.iter().filter(|w| w.starts_with("--")) {
                let flag = flag
                    .split('=')
                    .next()
                    .unwrap()
                    .trim_end_matches([')', '`', ',']);
                // The whole flag: `--require-reviewed` is no `--require-reviewed-plan`.
                let whole = help.stdout.match_indices(flag).any(|(at, _)| {
                    let next = help.stdout[at + flag.len()..].chars().next();
                    !next.is_some_and(|c| c.is_alphanumeric() || c == '-')
                });
                assert!(whole, "{}: berth {command} has no {flag}", path.display());
                checked += 1;
            }
        }
    }
    assert!(checked >= 8, "only {checked} flags found");
}
