//! Entra ID (Azure AD) as the world's tenant sees it. For now: the tenant's token-signing keys,
//! shared by every service that issues or checks Entra tokens ([`EntraState::keys`]). The
//! authority (`login.microsoftonline.com`) and device registration build on this module.

pub mod keys;

pub use keys::{SigningKey, SigningKeys};

/// The Entra substate of a world's services.
#[derive(Debug, Clone, Default)]
pub struct EntraState {
    /// The tenant's token-signing keys (made on first use).
    pub keys: SigningKeys,
}
