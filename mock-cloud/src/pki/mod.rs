//! The world's PKI, generated with rcgen (P-256): trust anchors with the real CAs' names and our
//! own keys, issuing intermediates, and a leaf for every emulated host.
//!
//! What a world needs before its ready line (the CAs, the shadow chains its faults ask for, and
//! the plan of every host's leaf: issuer, serial number, revocation) is made at build; a leaf's
//! certificate is signed on first use (SNI, the control endpoint), from the seed and the host's
//! name alone, so it is the same certificate whenever it is made (issue 20 item 2). The OCSP and
//! CRL responders know every planned serial number before its certificate exists.
//!
//! Certificate faults change the generated material (validity, trust, names, chain), never a
//! server code path; the revocation state lives here for the CRL/OCSP responders to serve.

mod client;
mod keys;
mod material;
mod ocsp;
mod plan;
mod revocation;
mod spec;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use rcgen::{Issuer, KeyPair, SerialNumber};
use rustls::pki_types::CertificateDer;
use rustls::sign::CertifiedKey;
use scenarios::{PkiFault, RevocationReason, WorldSpec};
use time::OffsetDateTime;

pub use client::{CheckedCsr, ClientCertRequest, CsrError, IssuedCert, check_csr};
pub use keys::LeafKey;
pub use material::permitted_subtrees;
pub use ocsp::{OcspAnswer, StapleKind, malformed_request, try_later};
pub use revocation::{CertRef, CertState, Crl, parse_serial, percent_decode, serial_hex, split_url};
pub use spec::{CaPurpose, CaSpec, PkiData};

use material::Serials;
use plan::{ChainKey, HostPlan, Mods, Planner};

/// Why the PKI could not be generated (all are bad scenario input but `Rcgen`).
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("unknown CA `{id}` in {context}; the CAs are: {}", known.join(", "))]
    UnknownCa { id: String, context: String, known: Vec<String> },
    #[error("{0}")]
    Fault(String),
    #[error("certificate generation failed: {0}")]
    Rcgen(String),
}

impl From<rcgen::Error> for PkiError {
    fn from(e: rcgen::Error) -> Self {
        PkiError::Rcgen(e.to_string())
    }
}

/// One generated CA certificate (a data CA, or a shadow copy of one for host-targeted faults).
pub struct CaCert {
    pub spec: CaSpec,
    issuer: Issuer<'static, KeyPair>,
    pub der: CertificateDer<'static>,
    pub pem: String,
    pub serial: SerialNumber,
    /// Index of the issuing CA; `None` for a root.
    pub parent: Option<usize>,
    /// Roots only: whether the world's CA bundle holds it.
    pub trusted: bool,
    pub shadow: bool,
    pub validity: (OffsetDateTime, OffsetDateTime),
    pub faults: Vec<scenarios::PkiFaultKind>,
}

impl std::fmt::Debug for CaCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaCert").field("id", &self.spec.id).field("shadow", &self.shadow).finish()
    }
}

/// A server certificate with its chain and key, ready for rustls.
#[derive(Debug)]
pub struct Leaf {
    /// The name the certificate is issued for (differs from the host under `pki.not_valid_for_name`).
    pub name: String,
    pub certified: Arc<CertifiedKey>,
    pub serial: SerialNumber,
    pub issuer: usize,
    /// Fault kinds that shaped this leaf or its chain.
    pub faults: Vec<scenarios::PkiFaultKind>,
}

/// A revoked certificate as its issuer's CRL and OCSP responder will report it.
#[derive(Debug, Clone)]
pub struct Revocation {
    pub issuer: usize,
    pub serial: SerialNumber,
    pub subject: String,
    pub at: OffsetDateTime,
    pub reason: RevocationReason,
}

/// A catalog host's leaf as planned at build: its certificate is made on first use.
#[derive(Debug)]
struct Planned {
    plan: HostPlan,
    issuer: usize,
    serial: SerialNumber,
    leaf: OnceLock<Arc<Leaf>>,
}

/// A world's PKI.
#[derive(Debug)]
pub struct Pki {
    planner: Planner,
    cas: Vec<CaCert>,
    chains: HashMap<ChainKey, usize>,
    /// Every catalog host (and wildcard), planned.
    hosts: HashMap<String, Planned>,
    /// Leaves of deeper names below an emulated wildcard, made on first use.
    minted: Mutex<HashMap<String, Arc<Leaf>>>,
    /// Mixed into every leaf key with the seed: the world's leaf keys are its own, not anyone's
    /// who knows the seed (a lab CA trusted by mistake must not give strangers usable keys).
    leaf_secret: [u8; 32],
    serials: Mutex<Serials>,
    revocations: Mutex<Vec<Revocation>>,
    permitted: Vec<String>,
    wildcards: Vec<String>,
    revocation: revocation::RevocationState,
}

impl Pki {
    /// Generate the CAs and the shadow chains the faults need, and plan a leaf for every host
    /// (signed on first use, or all at once by [`Pki::issue_all`]).
    pub fn build(data: &PkiData, world: &WorldSpec, faults: Vec<PkiFault>, hosts: &[String], now: OffsetDateTime) -> Result<Pki, PkiError> {
        let secret = ring::rand::generate::<[u8; 32]>(&ring::rand::SystemRandom::new()).map_err(|_| PkiError::Rcgen("no system randomness".into()))?;
        Self::build_with_secret(data, world, faults, hosts, now, secret.expose())
    }

    /// [`Pki::build`] with a chosen leaf secret (tests: two worlds with the same leaves).
    pub(crate) fn build_with_secret(
        data: &PkiData,
        world: &WorldSpec,
        faults: Vec<PkiFault>,
        hosts: &[String],
        now: OffsetDateTime,
        leaf_secret: [u8; 32],
    ) -> Result<Pki, PkiError> {
        let planner = Planner { data: data.clone(), world: world.clone(), faults, now };
        planner.validate()?;
        let presented = planner.faults.iter().filter_map(|f| match f {
            PkiFault::NotValidForName { presented, .. } => Some(presented.base().to_string()),
            _ => None,
        });
        let names: Vec<String> = hosts.iter().cloned().chain(world.domains.iter().cloned()).chain(presented).collect();
        let permitted = permitted_subtrees(names.iter().map(String::as_str));
        let mut pki = Pki {
            planner,
            cas: Vec::new(),
            chains: HashMap::new(),
            hosts: HashMap::new(),
            minted: Mutex::new(HashMap::new()),
            leaf_secret,
            serials: Mutex::new(Serials::new(world.seed)),
            revocations: Mutex::new(Vec::new()),
            permitted,
            wildcards: hosts.iter().filter(|h| h.starts_with("*.")).cloned().collect(),
            revocation: Default::default(),
        };
        pki.build_data_cas()?;
        for host in hosts {
            let plan = pki.planner.plan(host);
            let issuer = pki.chain(&plan.chain)?;
            let serial = pki.leaf_serial(host);
            // A name rcgen cannot write is bad input now, not a failed handshake later.
            material::leaf_dns_name(plan.presented.as_deref().unwrap_or(host))?;
            pki.record_leaf_revocation(host, &plan, issuer, &serial);
            pki.hosts.insert(host.clone(), Planned { plan, issuer, serial, leaf: OnceLock::new() });
        }
        Ok(pki)
    }

    /// Sign every catalog host's leaf now (benches, tests, and listings of every certificate);
    /// returns how many leaves the world has.
    pub fn issue_all(&self) -> Result<usize, PkiError> {
        for (host, planned) in &self.hosts {
            self.issued(host, planned)?;
        }
        Ok(self.hosts.len())
    }

    /// A leaf's serial number: from the seed and the name it is asked for, whenever it is made.
    fn leaf_serial(&self, host: &str) -> SerialNumber {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        for part in [b"memsim leaf serial\0".as_slice(), &self.planner.world.seed.to_be_bytes(), host.as_bytes()] {
            ctx.update(part);
        }
        material::serial_from(ctx.finish().as_ref())
    }

    /// A leaf revoked by the scenario (`pki.revoked` at leaf level) is on its issuer's CRL from
    /// the start, whether or not its certificate was made yet.
    fn record_leaf_revocation(&self, host: &str, plan: &HostPlan, issuer: usize, serial: &SerialNumber) {
        let mods = self.planner.with_faults(Mods::default(), &plan.leaf_faults, self.planner.data.validity.leaf);
        if let Some((at, reason)) = mods.revoked {
            let subject = plan.presented.clone().unwrap_or_else(|| host.to_string());
            self.revocations.lock().unwrap_or_else(|e| e.into_inner()).push(Revocation { issuer, serial: serial.clone(), subject, at, reason });
        }
    }

    /// A catalog host's leaf, signed the first time it is asked for.
    fn issued(&self, host: &str, planned: &Planned) -> Result<Arc<Leaf>, PkiError> {
        if let Some(leaf) = planned.leaf.get() {
            return Ok(leaf.clone());
        }
        // Two first handshakes at once may both sign; they make the same certificate but for
        // the signature's randomness, and the first stored wins.
        let leaf = Arc::new(self.issue_leaf(host, &planned.plan, planned.issuer, planned.serial.clone())?);
        Ok(planned.leaf.get_or_init(|| leaf).clone())
    }

    /// Check a scenario's PKI faults and issuer rules against the data without generating keys.
    pub fn validate(data: &PkiData, world: &WorldSpec, faults: &[PkiFault]) -> Result<(), PkiError> {
        let planner = Planner { data: data.clone(), world: world.clone(), faults: faults.to_vec(), now: OffsetDateTime::UNIX_EPOCH };
        planner.validate()
    }

    fn next_serial(&self) -> SerialNumber {
        self.serials.lock().unwrap_or_else(|p| p.into_inner()).next()
    }

    fn data_index(&self, id: &str) -> Option<usize> {
        self.cas.iter().position(|c| !c.shadow && c.spec.id == id)
    }

    /// Roots first, then the CAs they issue, each with its `ca = …` faults applied.
    fn build_data_cas(&mut self) -> Result<(), PkiError> {
        let specs = self.planner.data.cas.clone();
        let mut pending: Vec<&CaSpec> = specs.iter().collect();
        while !pending.is_empty() {
            let before = pending.len();
            let mut rest = Vec::new();
            for spec in pending {
                let parent = match &spec.issuer {
                    None => None,
                    Some(id) => match self.data_index(id) {
                        Some(i) => Some(i),
                        None => {
                            rest.push(spec);
                            continue;
                        }
                    },
                };
                let mods = self.planner.ca_mods(&spec.id, self.window_for(spec));
                self.add_ca(spec.clone(), parent, mods, false)?;
            }
            if rest.len() == before {
                let ids: Vec<String> = rest.iter().map(|s| s.id.clone()).collect();
                return Err(PkiError::Fault(format!("PKI data: issuers not found for {}", ids.join(", "))));
            }
            pending = rest;
        }
        Ok(())
    }

    fn window_for(&self, spec: &CaSpec) -> spec::Window {
        let v = self.planner.data.validity;
        if spec.is_root() { v.root } else { v.intermediate }
    }

    fn add_ca(&mut self, spec: CaSpec, parent: Option<usize>, mods: Mods, shadow: bool) -> Result<usize, PkiError> {
        let spec = if shadow { revocation::shadow_spec(spec, self.cas.len()) } else { spec };
        let validity = mods.validity(self.planner.now, self.window_for(&spec));
        let serial = self.next_serial();
        let issuer_spec = parent.map(|p| &self.cas[p].spec);
        let params = material::ca_params(&spec, issuer_spec, validity, serial.clone(), &self.permitted);
        let key = KeyPair::generate()?;
        let cert = match parent {
            None => params.self_signed(&key)?,
            Some(p) => params.signed_by(&key, &self.cas[p].issuer)?,
        };
        if let (Some(p), Some((at, reason))) = (parent, mods.revoked) {
            self.revocations.lock().unwrap_or_else(|e| e.into_inner()).push(Revocation {
                issuer: p,
                serial: serial.clone(),
                subject: spec.common_name().to_string(),
                at,
                reason,
            });
        }
        self.cas.push(CaCert {
            pem: cert.pem(),
            der: cert.der().clone(),
            issuer: Issuer::new(params, key),
            serial,
            parent,
            trusted: !mods.untrusted,
            shadow,
            validity,
            faults: mods.faults,
            spec,
        });
        Ok(self.cas.len() - 1)
    }

    /// The issuing CA for a chain key, building a shadow chain the first time one is needed.
    fn chain(&mut self, key: &ChainKey) -> Result<usize, PkiError> {
        if let Some(&i) = self.chains.get(key) {
            return Ok(i);
        }
        let base = self.data_index(&key.issuer).ok_or_else(|| PkiError::UnknownCa {
            id: key.issuer.clone(),
            context: "an issuance rule".into(),
            known: self.planner.data.cas.iter().map(|c| c.id.clone()).collect(),
        })?;
        let idx = if !key.is_shadow() {
            base
        } else {
            let v = self.planner.data.validity;
            let base_root =
                self.cas[base].parent.ok_or_else(|| PkiError::Fault(format!("`{}` is a root; leaves are issued by an intermediate", key.issuer)))?;
            let root = if key.root_faults.is_empty() {
                base_root
            } else {
                let mut spec = self.cas[base_root].spec.clone();
                let mods = self.planner.with_faults(self.planner.ca_mods(&spec.id, v.root), &key.root_faults, v.root);
                if mods.untrusted {
                    // The root a client lacks is the customer's own (failure catalog PKI-06: an
                    // internal CA never distributed to internet-only clients), named like one. It
                    // must not share a trusted root's name either, or verifiers report a bad
                    // signature instead of an unknown issuer.
                    spec.subject = internal_root_subject(&spec, &self.planner.world.tenant_name);
                }
                self.add_ca(spec, None, mods, true)?
            };
            let spec = self.cas[base].spec.clone();
            let mods = self.planner.with_faults(self.planner.ca_mods(&spec.id, v.intermediate), &key.intermediate_faults, v.intermediate);
            self.add_ca(spec, Some(root), mods, true)?
        };
        self.chains.insert(key.clone(), idx);
        Ok(idx)
    }

    /// The certificate of `host`'s leaf: its own key (from the leaf secret, the seed and the
    /// host), its planned serial, validity from the world's start: the same whenever it is made.
    fn issue_leaf(&self, host: &str, plan: &HostPlan, issuer: usize, serial: SerialNumber) -> Result<Leaf, PkiError> {
        let window = self.planner.data.validity.leaf;
        let mods = self.planner.with_faults(Mods::default(), &plan.leaf_faults, window);
        let name = plan.presented.clone().unwrap_or_else(|| host.to_string());
        let ca = &self.cas[issuer];
        let params = material::leaf_params(&name, &ca.spec, mods.validity(self.planner.now, window), serial.clone())?;
        let key = Arc::new(LeafKey::derive(&self.leaf_secret, self.planner.world.seed, host)?);
        let cert = params.signed_by(key.as_ref(), &ca.issuer)?;
        let mut chain = vec![cert.der().clone()];
        if !plan.omit_intermediate {
            chain.push(ca.der.clone());
        }
        let mut faults = plan.faults.clone();
        let root = ca.parent.map(|p| &self.cas[p]);
        faults.extend(ca.faults.iter().chain(root.iter().flat_map(|r| r.faults.iter())));
        faults.sort_unstable();
        faults.dedup();
        Ok(Leaf { name, certified: Arc::new(CertifiedKey::new(chain, key)), serial, issuer, faults })
    }

    /// The leaf a client gets for a server name: the host's own, the catalog wildcard one label
    /// above it, or one minted on first use for a deeper name below an emulated wildcard.
    /// `None` for a name the world does not emulate.
    pub fn leaf_for(&self, server_name: &str) -> Option<Arc<Leaf>> {
        // The common case, an exact lower-case name, without allocating (issue 20: per handshake).
        if let Some(planned) = self.hosts.get(server_name) {
            return self.issued(server_name, planned).ok();
        }
        let name = server_name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(planned) = self.hosts.get(&name) {
            return self.issued(&name, planned).ok();
        }
        let wildcard = self.wildcards.iter().filter(|w| name.ends_with(&w[1..])).max_by_key(|w| w.len())?;
        let plan = self.planner.plan(&name);
        let one_label_below = name.find('.') == Some(name.len() - (wildcard.len() - 1));
        if one_label_below && plan.faults == self.planner.plan(wildcard).faults {
            return self.issued(wildcard, self.hosts.get(wildcard)?).ok();
        }
        let mut minted = self.minted.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(leaf) = minted.get(&name) {
            return Some(leaf.clone());
        }
        let issuer = self.chains.get(&plan.chain).copied().or_else(|| self.hosts.get(wildcard).map(|l| l.issuer))?;
        let serial = self.leaf_serial(&name);
        let leaf = Arc::new(self.issue_leaf(&name, &plan, issuer, serial.clone()).ok()?);
        self.record_leaf_revocation(&name, &plan, issuer, &serial);
        minted.insert(name, leaf.clone());
        Some(leaf)
    }

    /// PEM of every root the world's TLS clients should trust (a distrusted root is left out, and
    /// so is every client-certificate-only root: see [`Pki::client_bundle_pem`]), then the Intune
    /// MDM device CA: what an enrolled Windows device holds after its provisioning document
    /// (Intune root in Root/System, the MDM device CA in CA/System), so that
    /// `openssl verify -CAfile ca.pem mdm.pem` checks an MDM certificate the world issued.
    pub fn bundle_pem(&self) -> String {
        let issuing: String =
            self.cas.iter().filter(|c| c.parent.is_some() && !c.shadow && c.spec.purpose == CaPurpose::ClientAndTls).map(|c| c.pem.as_str()).collect();
        self.roots_pem(CaPurpose::in_tls_bundle) + &issuing
    }

    /// PEM of the CAs that issue client certificates (`MS-Organization-Access`, the Intune root
    /// and its MDM device CA), roots first: what a relying party trusts to authenticate a device's
    /// certificate, the issuing CAs included so that `openssl verify -CAfile` builds the chain.
    /// `MS-Organization-Access` is kept out of [`Pki::bundle_pem`]: a machine never trusts it for
    /// TLS servers. The Intune root is in both (an enrolled device has it in Root/System).
    pub fn client_bundle_pem(&self) -> String {
        let issuing: String =
            self.cas.iter().filter(|c| c.parent.is_some() && !c.shadow && c.spec.purpose.in_client_bundle()).map(|c| c.pem.as_str()).collect();
        self.roots_pem(CaPurpose::in_client_bundle) + &issuing
    }

    fn roots_pem(&self, wanted: fn(CaPurpose) -> bool) -> String {
        self.cas.iter().filter(|c| c.parent.is_none() && c.trusted && wanted(c.spec.purpose)).map(|c| c.pem.as_str()).collect()
    }

    pub fn cas(&self) -> &[CaCert] {
        &self.cas
    }

    /// The DNS subtrees every CA is constrained to.
    pub fn permitted_subtrees(&self) -> &[String] {
        &self.permitted
    }

    pub fn revocations(&self) -> Vec<Revocation> {
        self.revocations.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Issue a certificate for any name under a world CA, e.g. to prove that the name
    /// constraints hold. Returns (leaf DER, issuer DER).
    pub fn issue_for_test(&self, name: &str, ca_id: &str) -> Result<(CertificateDer<'static>, CertificateDer<'static>), PkiError> {
        let issuer = self.data_index(ca_id).ok_or_else(|| PkiError::Fault(format!("no CA `{ca_id}`")))?;
        let ca = &self.cas[issuer];
        let window = self.planner.data.validity.leaf;
        let params = material::leaf_params(name, &ca.spec, Mods::default().validity(self.planner.now, window), self.next_serial())?;
        let cert = params.signed_by(&KeyPair::generate()?, &ca.issuer)?;
        Ok((cert.der().clone(), ca.der.clone()))
    }
}

/// `C=…, O=Contoso, CN=Contoso Internal Root CA`: an enterprise root as AD CS names them, for
/// the tenant's organization (the country kept from the root it stands in for).
fn internal_root_subject(base: &CaSpec, tenant: &str) -> Vec<(String, String)> {
    let country = base.subject.iter().filter(|(k, _)| k == "C").cloned();
    country.chain([("O".to_string(), tenant.to_string()), ("CN".to_string(), format!("{tenant} Internal Root CA"))]).collect()
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_leaves;
