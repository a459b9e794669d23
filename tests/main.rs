//! Integration tests: the real `berth` binary on real files (one test binary, to keep links few).

mod app_settings;
mod apply;
mod architecture;
mod bad_input;
mod candidate;
mod channels;
mod cluster_diff;
mod drivers;
mod e2e;
mod fuzz;
mod github;
mod hostile;
mod install;
mod notify;
mod offline_diff;
mod promotion;
mod readme;
mod render;
mod report;
mod reviewed_plan;
mod secrets;
mod sources;
mod status;
mod support;
mod tour;
mod workflows;
