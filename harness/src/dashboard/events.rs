//! The live timeline's feed: server-sent events (`text/event-stream`, one journal event a
//! message, its `seq` as the message id). A new stream first sends the journal's window in
//! memory (its newest [`BACKLOG`] events, or those after the `Last-Event-ID` a reconnecting
//! browser sends), then every event as the journal records it.
//!
//! One journal listener per dashboard ([`Live::attach`]) hands each event's JSON line to a
//! broadcast channel (only while a page listens); a page too slow to keep up skips what it
//! missed and is told how many (`event: lagged`) rather than hold memory for it.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use scenarios::Journal;
use tokio::sync::broadcast;

use super::AppState;

/// Events sent to a new page before live ones: the newest of the window.
pub const BACKLOG: usize = 5000;
/// Events a slow page may fall behind before it skips.
const CHANNEL: usize = 4096;

/// The journal's events as they happen: `(seq, JSON line)`.
#[derive(Clone, Debug)]
pub struct Live(broadcast::Sender<(u64, Arc<str>)>);

impl Live {
    /// Listen to `journal` for the dashboard's life (a sender with no page costs one check).
    pub fn attach(journal: &Journal) -> Live {
        let (tx, _) = broadcast::channel(CHANNEL);
        let sender = tx.clone();
        journal.subscribe(move |e| {
            if sender.receiver_count() > 0
                && let Ok(line) = serde_json::to_string(e)
            {
                let _ = sender.send((e.seq, line.into()));
            }
        });
        Live(tx)
    }
}

enum Phase {
    Backlog(std::vec::IntoIter<(u64, String)>, Option<u64>),
    /// The last seq sent, if any: live events up to it were in the backlog.
    Live(Option<u64>),
}

/// `GET /api/events`.
pub async fn stream(State(s): State<AppState>, headers: HeaderMap) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    // Subscribe before the snapshot: whatever is recorded in between is in one or the other, and
    // the seq filter drops what is in both.
    let rx = s.live.0.subscribe();
    let after = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    let journal = s.journal.clone();
    let mut backlog: Vec<(u64, String)> = tokio::task::spawn_blocking(move || {
        journal.snapshot().into_iter().filter(|e| after.is_none_or(|a| e.seq > a)).filter_map(|e| serde_json::to_string(&e).ok().map(|l| (e.seq, l))).collect()
    })
    .await
    .unwrap_or_default();
    let skipped = backlog.len().saturating_sub(BACKLOG);
    backlog.drain(..skipped);
    let last = backlog.last().map(|(seq, _)| *seq).or(after);
    let first = SseEvent::default().event("hello").data(serde_json::json!({"skipped": skipped, "backlog": backlog.len()}).to_string());
    let state = (Phase::Backlog(backlog.into_iter(), last), rx, Some(first));
    let stream = futures_util::stream::unfold(state, |(phase, mut rx, first)| async move {
        if let Some(f) = first {
            return Some((Ok(f), (phase, rx, None)));
        }
        match phase {
            Phase::Backlog(mut it, last) => match it.next() {
                Some((seq, line)) => Some((Ok(SseEvent::default().id(seq.to_string()).data(line)), (Phase::Backlog(it, last), rx, None))),
                None => {
                    let ev = SseEvent::default().event("live").data("{}");
                    Some((Ok(ev), (Phase::Live(last), rx, None)))
                }
            },
            Phase::Live(last) => loop {
                match rx.recv().await {
                    // Recorded before the snapshot was taken: already sent.
                    Ok((seq, _)) if last.is_some_and(|l| seq <= l) => continue,
                    Ok((seq, line)) => return Some((Ok(SseEvent::default().id(seq.to_string()).data(&*line)), (Phase::Live(last), rx, None))),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        let ev = SseEvent::default().event("lagged").data(n.to_string());
                        return Some((Ok(ev), (Phase::Live(last), rx, None)));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            },
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
