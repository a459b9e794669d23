//! The README's first command, `cargo run --release --example tour`, shows berth's main job: it
//! must keep working (here in the test profile, to share the build).

use std::process::Command;

#[test]
fn the_readme_tour_runs_candidate_diff_apply_and_a_change() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_string());
    let output = Command::new(cargo)
        .args(["run", "--quiet", "--example", "tour"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    for expected in [
        "EMBEDDED STAND-IN",
        "18 created, 0 updated, 0 unchanged",
        ": no changes\n  0 created, 0 updated, 18 unchanged",
        "0 to create, 1 to update, 0 to delete, 17 unchanged",
        "+  replicas: 3",
        "0 created, 1 updated, 17 unchanged",
    ] {
        assert!(
            stdout.contains(expected),
            "the tour lacks {expected:?}:\n{stdout}\n{stderr}"
        );
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}
