//! The world's device records: devices joined through DRS (their Entra device id and
//! certificate) and devices enrolled in Intune for Linux (their Intune device id, the details and
//! policy status they reported). World state, shared by the DRS and Intune-for-Linux services;
//! bounded ([`MAX_RECORDS`] of each, the oldest forgotten first) so a looping client cannot grow
//! a world's memory without end.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// How many joined and how many enrolled devices a world remembers (each).
pub const MAX_RECORDS: usize = 1024;

/// A device an Entra join or registration created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedDevice {
    /// The Entra device id: the CN of its certificate.
    pub device_id: String,
    pub display_name: String,
    pub device_type: String,
    pub os_version: String,
    pub join_type: u32,
    /// SHA-1 thumbprint of its device certificate (upper-case hex).
    pub thumbprint: String,
    /// Who joined it (the token's `upn`), if the token named one.
    pub upn: Option<String>,
}

/// A device Intune for Linux enrolled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolledDevice {
    /// The Intune device id (not the Entra one: intune-spec §2.1.1.1.2).
    pub device_id: String,
    pub device_name: String,
    pub thumbprint: String,
    /// The token's `deviceid` claim (the Entra device), if any.
    pub entra_device_id: Option<String>,
    /// The last `details` report: manufacturer, distribution, version.
    pub details: Option<(String, String, String)>,
    /// The rules the last `status` report said were not compliant: (setting id, expected value).
    pub noncompliant: Vec<(String, String)>,
    /// Whether any `status` report arrived.
    pub reported: bool,
}

#[derive(Debug, Default)]
struct Records {
    joined: VecDeque<JoinedDevice>,
    enrolled: VecDeque<EnrolledDevice>,
}

/// The world's device records (clones share them).
#[derive(Debug, Clone, Default)]
pub struct Devices(Arc<Mutex<Records>>);

fn push_bounded<T>(q: &mut VecDeque<T>, item: T, max: usize) {
    if q.len() >= max {
        q.pop_front();
    }
    q.push_back(item);
}

impl Devices {
    fn with<R>(&self, f: impl FnOnce(&mut Records) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn add_joined(&self, d: JoinedDevice) {
        self.with(|r| push_bounded(&mut r.joined, d, MAX_RECORDS));
    }

    pub fn joined(&self, device_id: &str) -> Option<JoinedDevice> {
        self.with(|r| r.joined.iter().find(|d| d.device_id.eq_ignore_ascii_case(device_id)).cloned())
    }

    pub fn add_enrolled(&self, d: EnrolledDevice) {
        self.with(|r| push_bounded(&mut r.enrolled, d, MAX_RECORDS));
    }

    pub fn enrolled(&self, device_id: &str) -> Option<EnrolledDevice> {
        self.with(|r| r.enrolled.iter().find(|d| d.device_id.eq_ignore_ascii_case(device_id)).cloned())
    }

    /// Change an enrolled device's record; false when the world does not know it.
    pub fn update_enrolled(&self, device_id: &str, f: impl FnOnce(&mut EnrolledDevice)) -> bool {
        self.with(|r| r.enrolled.iter_mut().find(|d| d.device_id.eq_ignore_ascii_case(device_id)).map(f).is_some())
    }

    /// How many devices joined and enrolled the world remembers.
    pub fn counts(&self) -> (usize, usize) {
        self.with(|r| (r.joined.len(), r.enrolled.len()))
    }
}

/// A random (version 4) UUID, lower-case, from the operating system's RNG: device ids, trace ids.
pub fn random_uuid() -> String {
    let mut b = [0u8; 16];
    // The OS RNG does not fail on the platforms memsim runs on; if it did, ids would still be
    // well-formed, only not random.
    let _ = getrandom::fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_bounded_and_found_case_insensitively() {
        let d = Devices::default();
        for i in 0..MAX_RECORDS + 5 {
            d.add_enrolled(EnrolledDevice {
                device_id: format!("ID-{i}"),
                device_name: "n".into(),
                thumbprint: String::new(),
                entra_device_id: None,
                details: None,
                noncompliant: vec![],
                reported: false,
            });
        }
        assert_eq!(d.counts(), (0, MAX_RECORDS));
        assert!(d.enrolled("id-0").is_none(), "the oldest is forgotten");
        assert!(d.enrolled(&format!("id-{}", MAX_RECORDS + 4)).is_some());
        assert!(d.update_enrolled("ID-10", |e| e.reported = true));
        assert!(!d.update_enrolled("nope", |e| e.reported = true));
        let u = random_uuid();
        assert_eq!((u.len(), &u[14..15]), (36, "4"));
        assert_ne!(u, random_uuid());
    }
}
