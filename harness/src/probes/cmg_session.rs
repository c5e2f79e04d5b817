//! The CCMHTTP calls of a ConfigMgr internet client behind the cloud management gateway
//! (protocols.md §8; memsim's contract for what is not public: mock-cloud's
//! `services/cmg/contract.md`): the MP list, the content location, the token service
//! (`CCM_STS`) and MP messaging with the CCM token (`CCM_POST …/ccm_system_tokenauth/request`,
//! the multipart/UTF-16/zlib framing of `mock_cloud::services::cmg::framing`). Each failed call
//! is worded as CCMHTTP logs it: `[CCMHTTP] ERROR: URL=…, Port=443, Options=…, Code=0,
//! Text=CCM_E_BAD_HTTP_STATUS_CODE` and `[CCMHTTP] ERROR INFO: StatusCode=401
//! StatusText=CMGService_Invalid_Token` (failure catalog CMG-01).

use hyper::Method;
use mock_cloud::services::cmg::{CCM_POST, SERVER_AUTH, framing};
use serde_json::{Value, json};

use super::http::Channel;

/// Wait for a whole answer at most this long, and read at most this much of it.
const LIMIT: usize = 1 << 20;

/// A call that did not get a 200: CCMHTTP's two lines, and the status.
#[derive(Debug)]
pub struct HttpFailure {
    pub status: Option<u16>,
    pub lines: Vec<String>,
}

impl HttpFailure {
    fn new(url: &str, status: u16, reason: &str, body: &[u8]) -> HttpFailure {
        let body = String::from_utf8_lossy(body).trim().chars().take(600).collect::<String>();
        let mut lines = vec![
            format!("[CCMHTTP] ERROR: URL={url}, Port=443, Options=224, Code=0, Text=CCM_E_BAD_HTTP_STATUS_CODE"),
            format!("[CCMHTTP] ERROR INFO: StatusCode={status} StatusText={reason}"),
        ];
        if !body.is_empty() {
            lines.push(format!("server said: {body}"));
        }
        HttpFailure { status: Some(status), lines }
    }

    fn broken(url: &str, why: String) -> HttpFailure {
        HttpFailure { status: None, lines: vec![format!("[CCMHTTP] ERROR: URL={url}, Port=443, Code=0, Text={why}")] }
    }
}

/// One client's session with the gateway.
pub struct Session<'a> {
    pub ch: &'a mut Channel,
    /// `https://HOST`, upper-case as ccmsetup logs it.
    pub base: String,
    pub id: u64,
}

impl Session<'_> {
    pub fn url(&self, channel: &str, rest: &str) -> String {
        format!("{}/{channel}/{}/{rest}", self.base, self.id)
    }

    async fn call(
        &mut self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<(hyper::Response<()>, bytes::Bytes), HttpFailure> {
        let path = url.strip_prefix(&self.base).unwrap_or(url).to_string();
        let (res, bytes) = self.ch.exchange(method, &path, headers, body, LIMIT).await.map_err(|e| HttpFailure::broken(url, e))?;
        if res.status() != 200 {
            let reason = res
                .extensions()
                .get::<hyper::ext::ReasonPhrase>()
                .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
                .unwrap_or_else(|| super::http::reason(res.status().as_u16()).to_string());
            return Err(HttpFailure::new(url, res.status().as_u16(), &reason, &bytes));
        }
        Ok((res, bytes))
    }

    /// `GET …/SMS_MP/.sms_aut?MPLIST`: the MP's name and its capabilities element.
    pub async fn mp_list(&mut self, channel: &str) -> Result<(String, String), HttpFailure> {
        let url = self.url(channel, "SMS_MP/.sms_aut?MPLIST");
        let (_, body) = self.call(Method::GET, &url, &[], None).await?;
        let xml = String::from_utf8_lossy(&body).into_owned();
        let name = framing::xml_value(&xml, "MP", Some("Name")).ok_or_else(|| HttpFailure::broken(&url, "the MP list names no MP".into()))?;
        let caps = xml.find("<Capabilities").and_then(|a| xml[a..].find("</Capabilities>").map(|b| xml[a..a + b + 15].to_string())).unwrap_or_default();
        Ok((name, caps))
    }

    /// `GET /downloadrestservice.svc/getcontentxmlsecure?pid=…&cid=…`: the client's content.
    pub async fn content(&mut self, site: &str) -> Result<(), HttpFailure> {
        let url = format!("{}/downloadrestservice.svc/getcontentxmlsecure?pid={site}00002&cid=ccmsetup", self.base);
        self.call(Method::GET, &url, &[], None).await.map(drop)
    }

    /// `GET /CCM_Proxy_ServerAuth/AADAuthInfo?TenantID=…`: the Entra app and resource to ask a
    /// token for (memsim's own JSON).
    pub async fn aad_auth_info(&mut self, tenant: &str) -> Result<(String, String), HttpFailure> {
        let url = format!("{}/{SERVER_AUTH}/AADAuthInfo?TenantID={tenant}", self.base);
        let (_, bytes) = self.call(Method::GET, &url, &[], None).await?;
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| HttpFailure::broken(&url, format!("AADAuthInfo is not its JSON: {e}")))?;
        match (v["AADCLIENTAPPID"].as_str(), v["AADRESOURCEURI"].as_str()) {
            (Some(app), Some(resource)) => Ok((app.to_string(), resource.to_string())),
            _ => Err(HttpFailure::broken(&url, "AADAuthInfo names no AADCLIENTAPPID and AADRESOURCEURI".into())),
        }
    }

    /// `POST …/CCM_STS`: a CCM token for a token of `token_type`, with its expiry.
    pub async fn ccm_token(&mut self, token_type: &str, token: &str) -> Result<(String, i64), HttpFailure> {
        let url = self.url(SERVER_AUTH, "CCM_STS");
        let body = json!({"TokenType": token_type, "Token": token}).to_string().into_bytes();
        let (_, bytes) = self.call(Method::POST, &url, &[("content-type", "application/json".into())], Some(body)).await?;
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| HttpFailure::broken(&url, format!("the token service's answer is not its JSON: {e}")))?;
        match (v["CcmToken"].as_str(), v["ExpiresOn"].as_i64()) {
            (Some(t), Some(exp)) => Ok((t.to_string(), exp)),
            _ => Err(HttpFailure::broken(&url, "the token service answered no CcmToken".into())),
        }
    }

    /// `CCM_POST …/ccm_system_tokenauth/request` to MP_ClientRegistration: a registration or a
    /// client-token renewal. Returns the SMSID and the client token with its expiry.
    pub async fn register(
        &mut self,
        ccm: &str,
        request_type: &str,
        client: &str,
        sms_id: &str,
        signing_hex: &str,
    ) -> Result<(String, String, i64), HttpFailure> {
        let url = self.url(SERVER_AUTH, "ccm_system_tokenauth/request");
        let data = format!(
            "<Data HashAlgorithm=\"1.2.840.113549.1.1.11\" SMSID=\"{sms_id}\" RequestType=\"{request_type}\"><AgentInformation AgentIdentity=\"CCMSetup.exe\" AgentVersion=\"5.00.9128.1000\" AgentType=\"0\" /><Certificates><Signing Encoding=\"HexBinary\" KeyType=\"1\">{signing_hex}</Signing></Certificates><DiscoveryProperties><Property Name=\"Netbios Name\" Value=\"{client}\" /><Property Name=\"InternetFlag\" Value=\"1\" /></DiscoveryProperties></Data>"
        );
        let body = format!("<ClientRegistrationRequest>{data}<Signature><SignatureValue></SignatureValue></Signature></ClientRegistrationRequest>");
        let header = format!(
            "<Msg ReplyCompression=\"zlib\" SchemaVersion=\"1.1\"><Body Type=\"ByteRange\" Length=\"{}\" Offset=\"0\" /><Hooks><Hook3 Name=\"zlib-compress\" /></Hooks><Payload Type=\"inline\" /><ReplyMode>Sync</ReplyMode><ReplyTo>direct:{client}:SccmMessaging</ReplyTo><SourceID>{sms_id}</SourceID><SourceHost>{client}</SourceHost><TargetAddress>mp:MP_ClientRegistration</TargetAddress><TargetEndpoint>MP_ClientRegistration</TargetEndpoint><Timeout>60000</Timeout></Msg>",
            framing::body_length(&body)
        );
        let headers =
            [("content-type", framing::CONTENT_TYPE.to_string()), ("user-agent", framing::USER_AGENT.to_string()), ("authorization", format!("Bearer {ccm}"))];
        let method = Method::from_bytes(CCM_POST.as_bytes()).map_err(|e| HttpFailure::broken(&url, e.to_string()))?;
        let (res, bytes) = self.call(method, &url, &headers, Some(framing::build(&header, &body))).await?;
        let ctype = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let reply = framing::parse(&ctype, &bytes).map_err(|e| HttpFailure::broken(&url, format!("the registration reply: {e}")))?;
        let sms = framing::xml_value(&reply.body, "ClientRegistrationReply", Some("SMSID"));
        let token = framing::xml_value(&reply.body, "ClientToken", None);
        let exp = framing::xml_value(&reply.body, "ClientToken", Some("ExpiresOn")).and_then(|e| e.parse().ok());
        match (sms, token, exp) {
            (Some(s), Some(t), Some(e)) if !t.is_empty() => Ok((s, t, e)),
            _ => Err(HttpFailure::broken(&url, "the registration reply has no SMSID and client token".into())),
        }
    }
}
