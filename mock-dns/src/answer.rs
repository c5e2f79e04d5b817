//! The steps of the server's pipeline speak one small trait, [`Answer`]: a request in, the
//! response message to send (or none) out, with the fault that shaped it. The innermost step
//! is hickory's `Catalog` over the world's zones; the fault layer wraps it; the journaling
//! request handler wraps both (see `pipeline`).
//!
//! A hickory `RequestHandler` writes its response into a `ResponseHandler`; [`Capture`] is
//! one that keeps the message (encoded and decoded by hickory-proto, never by hand) so the
//! layers around the catalog can read and reshape it.

use std::sync::{Arc, Mutex};

use hickory_server::net::NetError;
use hickory_server::net::runtime::TokioTime;
use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::{Message, MessageType, OpCode, Query};
use hickory_server::proto::rr::{Name, Record, RecordType};
use hickory_server::proto::serialize::binary::BinEncoder;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{Catalog, MessageResponse};

/// How a query reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    /// RFC 8484 DNS over HTTPS, on the world's HTTPS front.
    Https,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Https => "https",
        }
    }

    /// The hickory protocol a request over this transport is handled as: only UDP limits the
    /// response size (RFC 1035 §4.2.1, RFC 6891 §6.2.5); DoH, like TCP, carries any size.
    pub(crate) fn protocol(self) -> Protocol {
        match self {
            Transport::Udp => Protocol::Udp,
            Transport::Tcp | Transport::Https => Protocol::Tcp,
        }
    }
}

/// What a step gives back.
#[derive(Debug)]
pub(crate) struct Reply {
    /// The response to send; `None`: send nothing at all.
    pub message: Option<Message>,
    /// The fault that changed the response, by kind (e.g. `dns.nx_domain`).
    pub fault: Option<scenarios::DnsFaultKind>,
}

/// One step of the pipeline.
#[async_trait::async_trait]
pub(crate) trait Answer: Send + Sync + 'static {
    async fn answer(&self, request: &Request, transport: Transport) -> Reply;
}

/// The innermost step: hickory's catalog of the world's zones.
pub(crate) struct Zones(pub Catalog);

#[async_trait::async_trait]
impl Answer for Zones {
    async fn answer(&self, request: &Request, _transport: Transport) -> Reply {
        let capture = Capture::default();
        self.0.handle_request::<_, TokioTime>(request, capture.clone()).await;
        Reply { message: capture.take(), fault: None }
    }
}

/// A response handler that keeps the message instead of sending it.
#[derive(Clone, Default)]
pub(crate) struct Capture(Arc<Mutex<Option<Message>>>);

impl Capture {
    pub(crate) fn take(&self) -> Option<Message> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

#[async_trait::async_trait]
impl ResponseHandler for Capture {
    async fn send_response<'a>(
        &mut self,
        response: MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, NetError> {
        let mut bytes = Vec::with_capacity(512);
        let info = response.destructive_emit(&mut BinEncoder::new(&mut bytes))?;
        let message = Message::from_vec(&bytes)?;
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(message);
        Ok(info)
    }
}

/// A request of our own for `name`/`qtype`, as if `like`'s client had asked it (the fault
/// layer asks the zones about a CNAME target it substitutes).
pub(crate) fn subrequest(like: &Request, name: &Name, qtype: RecordType) -> Option<Request> {
    let mut message = Message::new(like.metadata.id, MessageType::Query, OpCode::Query);
    message.add_query(Query::query(name.clone(), qtype));
    let bytes = message.to_vec().ok()?;
    Request::from_bytes(bytes, like.src(), like.protocol()).ok()
}
