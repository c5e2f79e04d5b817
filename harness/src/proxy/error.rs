//! Why a proxy could not start: bad scenario input (an unknown endpoint set, an unreadable
//! allow-list) or the machine failing (the inspection CA, the listener).

/// Why a proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// A fault names an endpoint set the catalog does not have (bad scenario input).
    #[error("unknown endpoint set {0}: the Intune endpoint table (seed 002) has no such ID")]
    UnknownEndpointSet(u32),
    /// The customer's allow-list file could not be read or has a bad line (bad input).
    #[error("allow-list {path}: {message}")]
    AllowList { path: String, message: String },
    /// The inspection CA could not be generated.
    #[error("TLS inspection CA: {0}")]
    Certificate(String),
    #[error("proxy listener: {0}")]
    Io(#[from] std::io::Error),
}

impl ProxyError {
    /// A scenario problem, as opposed to the machine failing.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, ProxyError::UnknownEndpointSet(_) | ProxyError::AllowList { .. })
    }
}
