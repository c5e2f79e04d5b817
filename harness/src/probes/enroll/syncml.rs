//! The `enroll` probe's first OMA-DM session (SyncML 1.2), as fleet's test client opens it
//! (`pkg/mdm/mdmtest/windows.go`: Alert 1201, Alert 1224 LoginStatus, a `Replace` of
//! `./DevInfo/*`), and the server's reply as the client reads it: its statuses and `Final`.

use serde::{Deserialize, Serialize};

use super::wire::Text;

#[derive(Serialize)]
#[serde(rename = "SyncML")]
struct SyncMl<'a> {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "SyncHdr")]
    header: SyncHdr<'a>,
    #[serde(rename = "SyncBody")]
    body: SyncBody<'a>,
}

#[derive(Serialize)]
#[allow(non_snake_case)]
struct SyncHdr<'a> {
    VerDTD: &'static str,
    VerProto: &'static str,
    SessionID: &'static str,
    MsgID: &'static str,
    Target: Loc<'a>,
    Source: Loc<'a>,
}

#[derive(Serialize)]
#[allow(non_snake_case)]
struct Loc<'a> {
    LocURI: &'a str,
}

#[derive(Serialize)]
#[allow(non_snake_case)]
struct SyncBody<'a> {
    Alert: Vec<Alert<'a>>,
    Replace: Replace<'a>,
    Final: (),
}

#[derive(Serialize)]
#[allow(non_snake_case)]
struct Alert<'a> {
    CmdID: &'static str,
    Data: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    Item: Option<AlertItem<'a>>,
}

#[derive(Serialize)]
#[allow(non_snake_case)]
struct AlertItem<'a> {
    Meta: Meta,
    Data: &'a str,
}

#[derive(Serialize)]
#[allow(non_snake_case)]
struct Meta {
    Type: MetaType,
}

#[derive(Serialize)]
struct MetaType {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "$text")]
    value: &'static str,
}

#[derive(Serialize)]
#[allow(non_snake_case)]
struct Replace<'a> {
    CmdID: &'static str,
    Item: Vec<ReplaceItem<'a>>,
}

#[derive(Serialize)]
#[allow(non_snake_case)]
struct ReplaceItem<'a> {
    Source: Loc<'a>,
    Data: &'a str,
}

/// Session 1 as fleet's test client opens it: Alert 1201, Alert 1224 (LoginStatus), Replace DevInfo.
pub fn syncml_session1(server: &str, device_id: &str) -> Result<String, String> {
    let msg = SyncMl {
        xmlns: "SYNCML:SYNCML1.2",
        header: SyncHdr { VerDTD: "1.2", VerProto: "DM/1.2", SessionID: "1", MsgID: "1", Target: Loc { LocURI: server }, Source: Loc { LocURI: device_id } },
        body: SyncBody {
            Alert: vec![
                Alert { CmdID: "2", Data: "1201", Item: None },
                Alert {
                    CmdID: "3",
                    Data: "1224",
                    Item: Some(AlertItem { Meta: Meta { Type: MetaType { xmlns: "syncml:metinf", value: "com.microsoft/MDM/LoginStatus" } }, Data: "user" }),
                },
            ],
            Replace: Replace {
                CmdID: "4",
                Item: vec![
                    ReplaceItem { Source: Loc { LocURI: "./DevInfo/DevId" }, Data: device_id },
                    ReplaceItem { Source: Loc { LocURI: "./DevInfo/Man" }, Data: "memsim" },
                    ReplaceItem { Source: Loc { LocURI: "./DevInfo/Mod" }, Data: "enroll probe" },
                    ReplaceItem { Source: Loc { LocURI: "./DevInfo/DmV" }, Data: "1.3" },
                    ReplaceItem { Source: Loc { LocURI: "./DevInfo/Lang" }, Data: "en-US" },
                ],
            },
            Final: (),
        },
    };
    quick_xml::se::to_string(&msg).map_err(|e| e.to_string())
}

#[derive(Debug, Deserialize)]
pub struct SyncReply {
    #[serde(rename = "SyncBody")]
    pub body: SyncReplyBody,
}

#[derive(Debug, Deserialize)]
pub struct SyncReplyBody {
    #[serde(rename = "Status", default)]
    pub statuses: Vec<SyncStatus>,
    #[serde(rename = "Final")]
    pub final_: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[allow(non_snake_case)]
pub struct SyncStatus {
    pub Cmd: Text,
    pub Data: Text,
}

/// The server's session-1 reply: its statuses, and whether it closes the package with `Final`.
pub fn sync_reply(xml: &str) -> Result<SyncReplyBody, String> {
    quick_xml::de::from_str::<SyncReply>(xml).map(|r| r.body).map_err(|e| e.to_string())
}
