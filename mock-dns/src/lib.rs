//! memsim's authoritative DNS: answers for every emulated name with loopback addresses, the
//! tenant's CNAME chains, and DNS faults as a layer around the handler.
//!
//! It is not a resolver: it never recurses and never forwards, so nothing leaves the machine.
//! It knows nothing of HTTP or of Microsoft; the harness hands it the zones to serve.
//! (This crate is filled by the DNS issue; until then the world runs without DNS.)
