//! The CMG's fault seam (issue 15): which `cmg.*` fault holds now, and the scenario's bulk
//! registration token made as its `token.*` faults say — minted too long ago, for too long,
//! blocked, on another site, for another tenant, ahead of the gateway's clock, or corrupted
//! like seed 004's sample. Handlers ask [`active`] once per request; nothing else branches on a
//! fault.

use scenarios::{CmgEffect, CmgFaultKind, TokenEffect, TokenFaultKind};
use time::OffsetDateTime;

use super::CmgState;
use super::registration::{self, MintError};

/// Seed 004's published sample token, copied as printed: its claims do not decode
/// (`"exp":1580415\xb505`), which is what `token.malformed` hands the client.
pub const SEED_SAMPLE: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsIng1dCI6Ik9Tbzh2Tmd5VldRUjlDYVh5T2lacHFlMDlXNCJ9.eyJTQ0NNVG9rZW5DYXRlZ29yeSI6IlN7Q01QcmVBdXRoVG9rZW4iLCJBdXRob3JpdHkiOiJTQ0NNIiwiTGljZW5zZSI6IlNDQ00iLCJUeXBlIjoiQnVsa1JlZ2lzdHJhdGlvbiIsIlRlbmFudElkIjoiQ0RDQzVFOTEtMEFERi00QTI0LTgyRDAtMTk2NjY3RjFDMDgxIiwiVW5pcXVlSWQiOiJkYjU5MWUzMy1wNmZkLTRjNWItODJmMy1iZjY3M2U1YmQwYTIiLCJpc3MiOiJ1cm46c2NjbTpvYXV0aDI6Y2RjYzVlOTEtMGFkZi00YTI0LTgyZDAtMTk2NjY3ZjFjMDgxIiwiYXVkIjoidXJuOnNjY206c2VydmljZSIsImV4cCI6MTU4MDQxNbUwNSwibmJmIjoxNTgwMTU2MzA1fQ.ZUJkxCX6lxHUZhMH_WhYXFm_tbXenEdpgnbIqI1h8hYIJw7xDk3wv625SCfNfsqxhAwRwJByfkXdVGgIpAcFshzArXUVPPvmiUGaxlbB83etUTQjrLIk-gvQQZiE5NSgJ63LCp5KtqFCZe8vlZxnOloErFIrebjFikxqAgwOO4i5ukJdl3KQ07YPRhwpuXmwxRf1vsiawXBvTMhy40SOeZ3mAyCRypQpQNa7NM3adCBwUtYKwHqiX3r1jQU0y57LvU_brBfLUL6JUpk3ri-LSpwPFarRXzZPJUu4-mQFIgrMmKCYbFk3AaEvvrJienfWSvFYLpIYA7lg-6EVYRcCAA";

/// A tenant that is not the world's, for `token.wrong_issuer` without a `tenant`.
pub const OTHER_TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

/// The first `cmg.*` fault of `kind` active now, if any.
pub fn active(state: &CmgState, kind: CmgFaultKind) -> Option<&CmgEffect> {
    let clock = state.journal.clock();
    let elapsed = clock.to_sim(clock.wall_elapsed());
    state.faults.iter().find(|f| f.kind() == kind && f.active(elapsed)).map(|f| &f.effect)
}

/// How long the scenario's device stays offline after registering (`cmg.client_offline`).
pub fn offline(faults: &[scenarios::CmgFault]) -> Option<scenarios::SimDuration> {
    faults.iter().find_map(|f| match f.effect {
        CmgEffect::ClientOffline { offline } => Some(offline),
        _ => None,
    })
}

/// The scenario's bulk registration token, as the admin handed it to the device: the lifetime
/// the scenario asks (`[world.cmg] regtoken_lifetime`, else the tool's default), shaped by the
/// scenario's `token.*` faults (the first of them counts).
/// Blocking (the site key is made on first use). `Err` is the tool's refusal.
pub fn scenario_token(state: &CmgState, now: OffsetDateTime) -> Result<(String, Option<TokenFaultKind>), MintError> {
    let limits = state.limits();
    let lifetime = state.scenario_lifetime;
    let life = i64::from(lifetime) * 60;
    let t = now.unix_timestamp();
    let fault = state.token_faults.first();
    let kind = fault.map(scenarios::TokenFault::kind);
    let token = match fault.map(|f| &f.effect) {
        None => registration::mint(&state.site, &state.registry, &state.tenant_id, Some(lifetime), limits, now)?.token,
        Some(TokenEffect::Expired { age }) => {
            let nbf = t - i64::try_from(age.0.as_secs()).unwrap_or(i64::MAX / 4);
            let m = registration::sign_bulk(&state.site, &state.tenant_id, nbf, nbf + life)?;
            state.registry.remember_bulk(m.record.clone());
            m.token
        }
        Some(TokenEffect::LifetimeOverMax { lifetime }) => {
            registration::mint(&state.site, &state.registry, &state.tenant_id, Some(*lifetime), limits, now)?.token
        }
        Some(TokenEffect::Blocked {}) => {
            let m = registration::mint(&state.site, &state.registry, &state.tenant_id, Some(lifetime), limits, now)?;
            state.registry.set_blocked(&m.record.id, true);
            m.token
        }
        Some(TokenEffect::WrongSigner {}) => registration::sign_bulk(&state.foreign, &state.tenant_id, t, t + life)?.token,
        Some(TokenEffect::WrongIssuer { tenant }) => registration::sign_bulk(&state.site, tenant.as_deref().unwrap_or(OTHER_TENANT), t, t + life)?.token,
        Some(TokenEffect::NotYetValid { skew }) => {
            let nbf = t + i64::try_from(skew.0.as_secs()).unwrap_or(i64::MAX / 4);
            let m = registration::sign_bulk(&state.site, &state.tenant_id, nbf, nbf + life)?;
            state.registry.remember_bulk(m.record.clone());
            m.token
        }
        Some(TokenEffect::Malformed {}) => SEED_SAMPLE.to_string(),
    };
    Ok((token, kind))
}
