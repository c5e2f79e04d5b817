//! One zone as hickory's `Catalog` sees it: a `ZoneHandler` (hickory 0.26's name for what
//! was `Authority`) for one origin over the server's shared [`Store`]. The catalog picks the
//! zone by the longest matching origin and answers REFUSED for names outside every zone; this
//! handler answers from the store and lets the catalog add the SOA to negative answers
//! (RFC 2308 §3).
//!
//! It is a primary zone that refuses zone transfers and updates; it knows nothing of faults.

use std::sync::Arc;

use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::{LowerName, RecordType, TSigResponseContext};
use hickory_server::server::{Request, RequestInfo};
use hickory_server::zone_handler::{AuthLookup, AxfrPolicy, LookupControlFlow, LookupError, LookupOptions, LookupRecords, ZoneHandler, ZoneType};

use crate::store::{Resolution, Store};

pub(crate) struct WorldZone {
    origin: LowerName,
    store: Arc<Store>,
}

impl WorldZone {
    pub(crate) fn new(origin: LowerName, store: Arc<Store>) -> Self {
        WorldZone { origin, store }
    }
}

#[async_trait::async_trait]
impl ZoneHandler for WorldZone {
    fn zone_type(&self) -> ZoneType {
        ZoneType::Primary
    }

    fn axfr_policy(&self) -> AxfrPolicy {
        AxfrPolicy::Deny
    }

    fn origin(&self) -> &LowerName {
        &self.origin
    }

    async fn lookup(
        &self,
        name: &LowerName,
        rtype: RecordType,
        _request_info: Option<&RequestInfo<'_>>,
        _lookup_options: LookupOptions,
    ) -> LookupControlFlow<AuthLookup> {
        let result = match self.store.resolve(&name.into(), rtype) {
            Resolution::Answer { answers, additionals } => {
                let additionals = (!additionals.is_empty()).then_some(LookupRecords::Section(additionals));
                Ok(AuthLookup::answers(LookupRecords::Section(answers), additionals))
            }
            Resolution::NoData => Err(LookupError::NameExists),
            Resolution::NxDomain => Err(LookupError::from(ResponseCode::NXDomain)),
            Resolution::Refused => Err(LookupError::from(ResponseCode::Refused)),
        };
        LookupControlFlow::Break(result)
    }

    async fn search(&self, request: &Request, lookup_options: LookupOptions) -> (LookupControlFlow<AuthLookup>, Option<TSigResponseContext>) {
        let info = match request.request_info() {
            Ok(info) => info,
            Err(e) => return (LookupControlFlow::Break(Err(e)), None),
        };
        let flow = self.lookup(info.query.name(), info.query.query_type(), Some(&info), lookup_options).await;
        (flow, None)
    }

    async fn nsec_records(&self, _name: &LowerName, _options: LookupOptions) -> LookupControlFlow<AuthLookup> {
        // Unsigned zones: there are no NSEC records to give.
        LookupControlFlow::Break(Ok(AuthLookup::default()))
    }
}
