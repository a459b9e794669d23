//! Integration tests: the real `berth` binary on real files (one test binary, to keep links few).

mod bad_input;
mod drivers;
mod render;
mod support;
