//! The Tencent Meeting REST API as the daemon sees it.
//!
//! - [`model`]: the JSON bodies of requests, built from definitions, exactly as they go out.

pub mod model;
