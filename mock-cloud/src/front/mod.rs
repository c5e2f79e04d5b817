//! The world's two fronts: one HTTPS listener (certificate by SNI) and one plain HTTP listener,
//! both dispatching by Host to the service routers. Hundreds of names cost two ports.

mod dispatch;
pub mod http;
pub mod tls;

pub use dispatch::{Dispatch, Scheme};

use std::time::Duration;

/// How long a client may take to finish a TLS handshake or send its request headers before the
/// front gives up on it (slowloris and half-open connections). Wall time.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
