//! `berth-testserver`: an in-process HTTP server that answers like kube-apiserver v1.36, faithful to
//! the traffic recorded in `shared/k8s-recorded`, for testing berth's diff and apply without a cluster.
//!
//! [`github`] is a second server: a fake GitHub REST API for berth's pull-request comments.
//!
//! ```ignore
//! let srv = berth_testserver::TestServer::start().await;
//! let kubeconfig = srv.write_kubeconfig(tmp.path().join("kubeconfig"))?;
//! srv.inject(berth_testserver::Fault::status(503).times(1));
//! ```

mod api;
pub mod apply;
pub mod defaults;
pub mod discovery;
pub mod faults;
pub mod github;
/// The same canonical quantities berth renders: one source file serves both crates (the test
/// server cannot depend on berth, whose tests depend on it).
#[path = "../../src/object/quantity.rs"]
pub mod quantity;
pub mod recorded;
pub mod schema;
mod server;
mod store;
pub mod validation;

pub use faults::{Fault, FaultAction, RequestRecord};
pub use recorded::recorded_dir;
pub use server::TestServer;
