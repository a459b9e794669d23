//! `cargo bench --bench render`: render a generated repository of 200 template apps × 25 objects
//! and report berth's own time per phase (config, render + post-process, canonical tree, write).
//! Best and median of several runs; the first run warms the file cache.

mod common;

use berth::render::{self, RenderedSet};
use berth::source::DirSource;
use common::{APPS, OBJECTS_PER_APP, generate};
use std::time::{Duration, Instant};

const RUNS: usize = 7;

fn runs() -> usize {
    std::env::var("BERTH_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(RUNS)
}

fn main() {
    let repo = tempfile::tempdir().expect("temp dir");
    generate(repo.path());
    let out = tempfile::tempdir().expect("temp dir");

    let mut phases: Vec<[Duration; 6]> = Vec::new();
    let mut objects = 0;
    let mut bytes = 0;
    for run in 0..=runs() {
        let start = Instant::now();
        let source = DirSource::new(repo.path());
        let config = berth::config::load(&repo.path().join("berth.yaml"), &source).expect("config");
        let loaded = Instant::now();
        let channels = config.select_channels(&["test".into()]).unwrap();
        let sets: Vec<RenderedSet> =
            render::render(&config, &channels, &source, &render::Options::default())
                .expect("render");
        let rendered = Instant::now();
        let tree = sets[0].tree();
        let built = Instant::now();
        tree.write_to(&out.path().join(format!("fresh-{run}")))
            .expect("write");
        let fresh = Instant::now();
        tree.write_to(&out.path().join("test")).expect("write");
        let written = Instant::now();
        objects = sets[0].objects.len();
        bytes = tree.files.values().map(Vec::len).sum::<usize>();
        phases.push([
            loaded - start,
            rendered - loaded,
            built - rendered,
            fresh - built,
            written - fresh,
            (built - start) + (written - fresh),
        ]);
    }
    phases.remove(0); // warm-up
    println!(
        "berth render: {APPS} apps × {OBJECTS_PER_APP} objects = {objects} objects, {} KiB canonical YAML, {} threads",
        bytes / 1024,
        rayon::current_num_threads()
    );
    let names = [
        "config",
        "render+post-process",
        "canonical tree",
        "write to a new dir",
        "replace a tree",
        "total (replace)",
    ];
    // The binary as a user runs it, for its peak memory.
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_berth"));
    let cli_out = out.path().join("cli");
    command
        .current_dir(repo.path())
        .args(["render", "-c", "test", "--out"])
        .arg(&cli_out);
    let (took, peak) = common::measure(command, 0);
    println!(
        "  `berth render` (the binary, one run)  {:>8.1} ms   peak RSS {peak:.0} MiB",
        ms(took)
    );
    for (i, name) in names.iter().enumerate() {
        let mut times: Vec<Duration> = phases.iter().map(|p| p[i]).collect();
        times.sort();
        println!(
            "  {name:<22} best {:>8.1} ms   median {:>8.1} ms",
            ms(times[0]),
            ms(times[times.len() / 2])
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
