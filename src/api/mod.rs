//! The Tencent Meeting REST API as the daemon sees it.
//!
//! - [`model`]: the JSON bodies of requests and answers.
//! - [`sign`]: request signatures (shared with the fake API, which checks them).
//! - [`error`]: failed calls and what to do about each.
//! - [`backoff`]: retry delays with full jitter.
//! - [`pace`]: the process-wide rate and concurrency limits.
//! - [`lookup`]: the adoption rule: which listed meeting an unclear create made.
//! - [`client`]: `create`, `find`, `get`, `modify`, `cancel`, signed, paced and retried.

pub mod backoff;
pub mod client;
pub mod error;
pub mod lookup;
pub mod model;
pub mod pace;
pub mod sign;

pub use client::{Cancelled, Client, Endpoint, Gate};
pub use error::{ApiError, Treatment};
