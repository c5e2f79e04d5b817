//! What the site remembers (seed 004: "De sitedatabase bevat echter geen bulkregistratietokens"):
//! of a bulk registration token only its id, lifetime and block state, for the console's list
//! and block/unblock; of a registered internet client its SMSID and its current client token's
//! expiry. And the BulkRegistrationTokenTool.exe equivalent that mints bulk tokens.
//!
//! Both maps are bounded ([`MAX_ENTRIES`]): a client cannot grow the world's memory by
//! registering for ever.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;
use time::OffsetDateTime;

use super::tokens::{self, Claims, SiteKeys};

/// At most this many bulk tokens and this many clients are remembered (the oldest go first).
pub const MAX_ENTRIES: usize = 10_000;

/// One bulk registration token as the console lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BulkRecord {
    pub id: String,
    pub nbf: i64,
    pub exp: i64,
    pub lifetime_minutes: u32,
    pub blocked: bool,
}

/// A freshly minted bulk token, as the tool prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Minted {
    #[serde(flatten)]
    pub record: BulkRecord,
    pub token: String,
}

/// Why the tool made no token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MintError {
    #[error("The lifetime {requested} is not valid: specify a lifetime in minutes from 1 to {max} (the maximum is {max} minutes, 7 days)")]
    Lifetime { requested: u32, max: u32 },
    #[error("the site's token-signing certificate could not be made: {0}")]
    Key(String),
}

/// The site's registration state.
#[derive(Debug, Default)]
pub struct Registry {
    bulk: Mutex<BTreeMap<String, (u64, BulkRecord)>>,
    clients: Mutex<BTreeMap<String, (u64, i64)>>,
    seq: std::sync::atomic::AtomicU64,
}

fn bounded<V>(map: &mut BTreeMap<String, (u64, V)>) {
    while map.len() > MAX_ENTRIES {
        let Some(oldest) = map.iter().min_by_key(|(_, (n, _))| *n).map(|(k, _)| k.clone()) else { return };
        map.remove(&oldest);
    }
}

impl Registry {
    fn next(&self) -> u64 {
        self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    pub fn remember_bulk(&self, r: BulkRecord) {
        let mut map = self.bulk.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(r.id.to_ascii_lowercase(), (self.next(), r));
        bounded(&mut map);
    }

    /// Every bulk token the site knows, oldest first.
    pub fn list(&self) -> Vec<BulkRecord> {
        let map = self.bulk.lock().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<&(u64, BulkRecord)> = map.values().collect();
        all.sort_by_key(|(n, _)| *n);
        all.into_iter().map(|(_, r)| r.clone()).collect()
    }

    /// Block or unblock a token by its GUID; the record after the change, if the site knows it.
    pub fn set_blocked(&self, id: &str, blocked: bool) -> Option<BulkRecord> {
        let mut map = self.bulk.lock().unwrap_or_else(|e| e.into_inner());
        let (_, r) = map.get_mut(&id.trim().trim_matches(['{', '}']).to_ascii_lowercase())?;
        r.blocked = blocked;
        Some(r.clone())
    }

    pub fn is_blocked(&self, id: &str) -> bool {
        let map = self.bulk.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&id.to_ascii_lowercase()).is_some_and(|(_, r)| r.blocked)
    }

    /// Remember a registered client and its client token's expiry.
    pub fn remember_client(&self, sms_id: &str, exp: i64) {
        let mut map = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(sms_id.to_string(), (self.next(), exp));
        bounded(&mut map);
    }

    pub fn clients(&self) -> usize {
        self.clients.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// BulkRegistrationTokenTool.exe `/new [/lifetime minutes]`: a token of `lifetime` minutes
/// (default `default`, at most `max`) valid from `now`, remembered by id.
pub fn mint(keys: &SiteKeys, registry: &Registry, tenant: &str, lifetime: Option<u32>, limits: (u32, u32), now: OffsetDateTime) -> Result<Minted, MintError> {
    let (default, max) = limits;
    let lifetime = lifetime.unwrap_or(default);
    if lifetime == 0 || lifetime > max {
        return Err(MintError::Lifetime { requested: lifetime, max });
    }
    let nbf = now.unix_timestamp();
    let minted = sign_bulk(keys, tenant, nbf, nbf + i64::from(lifetime) * 60)?;
    registry.remember_bulk(minted.record.clone());
    Ok(minted)
}

/// Sign a bulk token valid from `nbf` to `exp` (not remembered: the callers decide).
pub fn sign_bulk(keys: &SiteKeys, tenant: &str, nbf: i64, exp: i64) -> Result<Minted, MintError> {
    let id = tokens::new_guid();
    let token = keys.sign(&Claims::bulk(tenant, &id, nbf, exp)).map_err(|e| MintError::Key(e.to_string()))?;
    let lifetime_minutes = u32::try_from((exp - nbf) / 60).unwrap_or(u32::MAX);
    Ok(Minted { record: BulkRecord { id, nbf, exp, lifetime_minutes, blocked: false }, token })
}
