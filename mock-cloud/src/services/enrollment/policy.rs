//! MS-XCEP GetPolicies (protocols.md §3; MS-XCEP §3.1.4.1.3.23; the docs' sample and fleet's
//! `NewGetPoliciesResponse`): the caller's token checked, then one policy — minimal key length,
//! hash algorithm, validity — from `data/enrollment.toml` (an `enrollment.min_key_length` fault
//! raises the key length). `policySchema` is 3, as MS-MDE2 requires; every element MS-XCEP
//! leaves out is written `xsi:nil="true"`, as the sample does.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use scenarios::{Component, EnrollStep, NewEvent};
use serde::Serialize;

use super::faults::{EnrollError, Tuning, soap_response};
use super::soap::{self, NIL, Nil, OutEnvelope};
use crate::services::AppState;

pub async fn handle(state: &AppState, req: Request) -> Response {
    let host = crate::front::request_host(&req).unwrap_or_default();
    let tuning = req.extensions().get::<Tuning>().copied().unwrap_or_default();
    let env = match super::read_soap(req).await {
        Ok(env) => env,
        Err(e) => return super::answer(state, EnrollStep::Policies, &host, "", Err(e)),
    };
    let relates_to = env.header.message_id().to_string();
    let result = policies(state, &env, &tuning, &host);
    super::answer(state, EnrollStep::Policies, &host, &relates_to, result)
}

fn policies(state: &AppState, env: &soap::Envelope, tuning: &Tuning, host: &str) -> Result<Response, EnrollError> {
    if env.body.get_policies.is_none() {
        return Err(EnrollError::MessageFormat("the body holds no GetPolicies request".into()));
    }
    let caller = super::auth::authenticate(state, &env.header, tuning)?;
    let data = &state.catalog.enrollment.policy;
    let min_key = tuning.min_key_length.map_or(data.minimal_key_length, |(bits, _)| bits);
    let body = PoliciesBody { response: response(data, min_key) };
    let xml = OutEnvelope::new(soap::ACTION_GET_POLICIES_RESPONSE, env.header.message_id(), super::guid(), None, body)
        .to_xml()
        .map_err(|e| EnrollError::Internal(e.to_string()))?;
    let mut event = NewEvent::new(Component::Http, "policies")
        .host(host.to_string())
        .detail("upn", caller.upn.clone())
        .detail("auth", caller.method)
        .detail("minimal_key_length", min_key);
    if let Some((_, kind)) = tuning.min_key_length {
        event = event.fault(kind);
    }
    state.journal.record(event);
    Ok(soap_response(StatusCode::OK, xml))
}

fn response(data: &super::PolicyData, min_key: u32) -> GetPoliciesResponse {
    GetPoliciesResponse {
        xmlns: soap::NS_POLICY,
        xmlns_xsi: soap::NS_XSI,
        response: PolicyResponse {
            policy_id: String::new(),
            friendly_name: NIL,
            next_update_hours: NIL,
            not_changed: NIL,
            policies: Policies {
                policy: Policy {
                    oid_reference: 0,
                    cas: NIL,
                    attributes: Attributes {
                        common_name: "Microsoft Intune MDM Device".into(),
                        policy_schema: 3,
                        validity: Validity { validity: data.validity_seconds, renewal: data.renewal_seconds },
                        permission: Permission { enroll: true, auto_enroll: false },
                        key: KeyAttributes { minimal_key_length: min_key, key_spec: NIL, key_usage: NIL, permissions: NIL, algorithm: NIL, providers: NIL },
                        revision: Revision { major: 101, minor: 0 },
                        superseded: NIL,
                        private_key_flags: NIL,
                        subject_name_flags: NIL,
                        enrollment_flags: NIL,
                        general_flags: NIL,
                        hash_oid_reference: 0,
                        ra: NIL,
                        archival: NIL,
                        extensions: NIL,
                    },
                },
            },
        },
        cas: NIL,
        oids: Oids { oid: Oid { value: data.hash_oid.clone(), group: data.hash_oid_group, reference: 0, name: data.hash_oid_name.clone() } },
    }
}

#[derive(Serialize)]
struct PoliciesBody {
    #[serde(rename = "GetPoliciesResponse")]
    response: GetPoliciesResponse,
}

#[derive(Serialize)]
struct GetPoliciesResponse {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "@xmlns:xsi")]
    xmlns_xsi: &'static str,
    response: PolicyResponse,
    #[serde(rename = "cAs")]
    cas: Nil,
    #[serde(rename = "oIDs")]
    oids: Oids,
}

#[derive(Serialize)]
struct PolicyResponse {
    #[serde(rename = "policyID")]
    policy_id: String,
    #[serde(rename = "policyFriendlyName")]
    friendly_name: Nil,
    #[serde(rename = "nextUpdateHours")]
    next_update_hours: Nil,
    #[serde(rename = "policiesNotChanged")]
    not_changed: Nil,
    policies: Policies,
}

#[derive(Serialize)]
struct Policies {
    policy: Policy,
}

#[derive(Serialize)]
struct Policy {
    #[serde(rename = "policyOIDReference")]
    oid_reference: u32,
    #[serde(rename = "cAs")]
    cas: Nil,
    attributes: Attributes,
}

#[derive(Serialize)]
struct Attributes {
    #[serde(rename = "commonName")]
    common_name: String,
    #[serde(rename = "policySchema")]
    policy_schema: u32,
    #[serde(rename = "certificateValidity")]
    validity: Validity,
    permission: Permission,
    #[serde(rename = "privateKeyAttributes")]
    key: KeyAttributes,
    revision: Revision,
    #[serde(rename = "supersededPolicies")]
    superseded: Nil,
    #[serde(rename = "privateKeyFlags")]
    private_key_flags: Nil,
    #[serde(rename = "subjectNameFlags")]
    subject_name_flags: Nil,
    #[serde(rename = "enrollmentFlags")]
    enrollment_flags: Nil,
    #[serde(rename = "generalFlags")]
    general_flags: Nil,
    #[serde(rename = "hashAlgorithmOIDReference")]
    hash_oid_reference: u32,
    #[serde(rename = "rARequirements")]
    ra: Nil,
    #[serde(rename = "keyArchivalAttributes")]
    archival: Nil,
    extensions: Nil,
}

#[derive(Serialize)]
struct Validity {
    #[serde(rename = "validityPeriodSeconds")]
    validity: u64,
    #[serde(rename = "renewalPeriodSeconds")]
    renewal: u64,
}

#[derive(Serialize)]
struct Permission {
    enroll: bool,
    #[serde(rename = "autoEnroll")]
    auto_enroll: bool,
}

#[derive(Serialize)]
struct KeyAttributes {
    #[serde(rename = "minimalKeyLength")]
    minimal_key_length: u32,
    #[serde(rename = "keySpec")]
    key_spec: Nil,
    #[serde(rename = "keyUsageProperty")]
    key_usage: Nil,
    permissions: Nil,
    #[serde(rename = "algorithmOIDReference")]
    algorithm: Nil,
    #[serde(rename = "cryptoProviders")]
    providers: Nil,
}

#[derive(Serialize)]
struct Revision {
    #[serde(rename = "majorRevision")]
    major: u32,
    #[serde(rename = "minorRevision")]
    minor: u32,
}

#[derive(Serialize)]
struct Oids {
    #[serde(rename = "oID")]
    oid: Oid,
}

#[derive(Serialize)]
struct Oid {
    value: String,
    group: u32,
    #[serde(rename = "oIDReferenceID")]
    reference: u32,
    #[serde(rename = "defaultName")]
    name: String,
}
