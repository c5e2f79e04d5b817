//! The provisioning document of a WSTEP answer (`wap-provisioningdoc version="1.1"`;
//! protocols.md §4; learn.microsoft.com federated-authentication-device-enrollment.md; fleet's
//! `NewCertStoreProvisioningData`, `NewApplicationProvisioningData`, `NewDMClientProvisioningData`),
//! as the Windows client parses it:
//! - `CertificateStore/Root/System/<SHA-1 thumbprint>/EncodedCertificate`: the issuing chain's root;
//! - `CertificateStore/CA/System/<thumbprint>/EncodedCertificate`: the issuing CA (the
//!   intermediate store, so a client can build the chain without fetching it);
//! - `CertificateStore/My/{User|System}/<thumbprint>/EncodedCertificate`: the issued certificate,
//!   with the empty `PrivateKeyContainer` the docs call "required and must be present";
//! - `CertificateStore/My/WSTEP/Renew`: ROBO renewal;
//! - the w7 `APPLICATION` with the OMA-DM `ADDR` and its two `APPAUTH` blocks;
//! - `DMClient/Provider/<PROVIDER-ID>/Poll`: the check-in schedule.
//!
//! Parm names are upper case where the CSPs require it. The same types read a document back
//! ([`ProvisioningDoc::parse`]): the probe and the tests do.

use serde::{Deserialize, Serialize};

use super::ProvisioningData;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename = "wap-provisioningdoc")]
pub struct ProvisioningDoc {
    #[serde(rename = "@version")]
    pub version: String,
    #[serde(rename = "characteristic", default)]
    pub characteristics: Vec<Characteristic>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Characteristic {
    #[serde(rename = "@type")]
    pub kind: String,
    #[serde(rename = "parm", default, skip_serializing_if = "Vec::is_empty")]
    pub parms: Vec<Parm>,
    #[serde(rename = "characteristic", default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Characteristic>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parm {
    #[serde(rename = "@name")]
    pub name: String,
    #[serde(rename = "@value", default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(rename = "@datatype", default, skip_serializing_if = "Option::is_none")]
    pub datatype: Option<String>,
}

fn c(kind: &str, parms: Vec<Parm>, children: Vec<Characteristic>) -> Characteristic {
    Characteristic { kind: kind.into(), parms, children }
}

fn p(name: &str, value: impl ToString) -> Parm {
    Parm { name: name.into(), value: Some(value.to_string()), datatype: None }
}

fn typed(name: &str, value: impl ToString, datatype: &str) -> Parm {
    Parm { name: name.into(), value: Some(value.to_string()), datatype: Some(datatype.into()) }
}

/// What goes into one device's document.
#[derive(Debug, Clone)]
pub struct Contents<'a> {
    pub root_thumbprint: &'a str,
    pub root_b64: &'a str,
    pub ca_thumbprint: &'a str,
    pub ca_b64: &'a str,
    pub client_thumbprint: &'a str,
    pub client_b64: &'a str,
    /// `System` for a device (Entra join, EnrollmentType=Device), `User` for a user (Full).
    pub store: &'a str,
    /// The issued certificate's subject CN (SSLCLIENTCERTSEARCHCRITERIA).
    pub subject_cn: &'a str,
    /// The OMA-DM server URL (`ADDR`).
    pub addr: &'a str,
}

impl ProvisioningDoc {
    pub fn build(data: &ProvisioningData, x: &Contents<'_>) -> ProvisioningDoc {
        let poll = &data.poll;
        let criteria = format!("Subject=CN%3d{}&Stores=MY%5C{}", x.subject_cn, x.store);
        let app_auth = |level: &str| {
            let mut parms = vec![p("AAUTHLEVEL", level), p("AAUTHTYPE", "DIGEST"), p("AAUTHSECRET", "dummy"), p("AAUTHDATA", "nonce")];
            if level == "APPSRV" {
                parms.insert(2, p("AAUTHNAME", "dummy"));
            }
            c("APPAUTH", parms, vec![])
        };
        let certificates = c(
            "CertificateStore",
            vec![],
            vec![
                c("Root", vec![], vec![c("System", vec![], vec![c(x.root_thumbprint, vec![p("EncodedCertificate", x.root_b64)], vec![])])]),
                c("CA", vec![], vec![c("System", vec![], vec![c(x.ca_thumbprint, vec![p("EncodedCertificate", x.ca_b64)], vec![])])]),
                c(
                    "My",
                    vec![],
                    vec![
                        c(
                            x.store,
                            vec![],
                            vec![c(x.client_thumbprint, vec![p("EncodedCertificate", x.client_b64)], vec![]), c("PrivateKeyContainer", vec![], vec![])],
                        ),
                        c(
                            "WSTEP",
                            vec![],
                            vec![c(
                                "Renew",
                                vec![
                                    typed("ROBOSupport", "true", "boolean"),
                                    typed("RenewPeriod", data.renew_period, "integer"),
                                    typed("RetryInterval", data.retry_interval, "integer"),
                                ],
                                vec![],
                            )],
                        ),
                    ],
                ),
            ],
        );
        let application = c(
            "APPLICATION",
            vec![
                p("APPID", "w7"),
                p("PROVIDER-ID", &data.provider_id),
                p("NAME", &data.name),
                p("ADDR", x.addr),
                p("CONNRETRYFREQ", data.conn_retry_freq),
                p("INITIALBACKOFFTIME", data.initial_backoff_time),
                p("MAXBACKOFFTIME", data.max_backoff_time),
                Parm { name: "BACKCOMPATRETRYDISABLED".into(), value: None, datatype: None },
                p("DEFAULTENCODING", &data.default_encoding),
                p("SSLCLIENTCERTSEARCHCRITERIA", criteria),
            ],
            vec![app_auth("CLIENT"), app_auth("APPSRV")],
        );
        let schedule = c(
            "Poll",
            vec![
                typed("NumberOfFirstRetries", poll.first_retries, "integer"),
                typed("IntervalForFirstSetOfRetries", poll.first_interval, "integer"),
                typed("NumberOfSecondRetries", poll.second_retries, "integer"),
                typed("IntervalForSecondSetOfRetries", poll.second_interval, "integer"),
                typed("NumberOfRemainingScheduledRetries", poll.remaining_retries, "integer"),
                typed("IntervalForRemainingScheduledRetries", poll.remaining_interval, "integer"),
                typed("PollOnLogin", poll.poll_on_login, "boolean"),
            ],
            vec![],
        );
        let dm_client = c("DMClient", vec![], vec![c("Provider", vec![], vec![c(&data.provider_id, vec![], vec![schedule])])]);
        ProvisioningDoc { version: "1.1".into(), characteristics: vec![certificates, application, dm_client] }
    }

    pub fn to_xml(&self) -> Result<String, quick_xml::SeError> {
        quick_xml::se::to_string(self)
    }

    /// Read a document (at most 1 MiB, no DTD), as a client does.
    pub fn parse(xml: &str) -> Result<ProvisioningDoc, String> {
        if xml.len() > 1024 * 1024 {
            return Err("the provisioning document is over 1 MiB".into());
        }
        if xml.contains("<!DOCTYPE") {
            return Err("the provisioning document carries a DTD".into());
        }
        quick_xml::de::from_str(xml).map_err(|e| e.to_string())
    }

    /// The characteristic at `path` of types from the top (case-sensitive, as the CSPs are).
    pub fn find(&self, path: &[&str]) -> Option<&Characteristic> {
        let (first, rest) = path.split_first()?;
        let mut cur = self.characteristics.iter().find(|c| c.kind == *first)?;
        for kind in rest {
            cur = cur.children.iter().find(|c| c.kind == *kind)?;
        }
        Some(cur)
    }
}

impl Characteristic {
    pub fn parm(&self, name: &str) -> Option<&str> {
        self.parms.iter().find(|p| p.name == name).and_then(|p| p.value.as_deref())
    }
}
