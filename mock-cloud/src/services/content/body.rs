//! A response body that generates a package's bytes as hyper asks for them: memory stays at one
//! chunk per connection whatever the package size. A body dropped before its end (the client
//! hung up, a proxy cut the connection) leaves a journal line saying how far it got.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use scenarios::{Component, Journal, NewEvent};

use super::generator::Generator;

/// Bytes generated per frame.
const CHUNK: u64 = 64 * 1024;

/// Who to tell when a transfer ends early.
#[derive(Debug)]
pub struct AbortNote {
    pub journal: Journal,
    pub host: String,
    pub package: String,
}

#[derive(Debug)]
pub struct GeneratedBody {
    generator: Generator,
    start: u64,
    pos: u64,
    /// Exclusive.
    end: u64,
    note: Option<AbortNote>,
}

impl GeneratedBody {
    /// The bytes `first..=last` (or nothing when `first > last`).
    pub fn new(generator: Generator, first: u64, end: u64, note: AbortNote) -> Self {
        GeneratedBody { generator, start: first, pos: first, end: end.max(first), note: Some(note) }
    }
}

impl http_body::Body for GeneratedBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.pos >= self.end {
            return Poll::Ready(None);
        }
        let n = (self.end - self.pos).min(CHUNK) as usize;
        let mut buf = vec![0u8; n];
        self.generator.fill(self.pos, &mut buf);
        self.pos += n as u64;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(buf)))))
    }

    fn is_end_stream(&self) -> bool {
        self.pos >= self.end
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.end - self.pos)
    }
}

impl Drop for GeneratedBody {
    fn drop(&mut self) {
        if self.pos < self.end
            && let Some(note) = self.note.take()
        {
            note.journal.record(
                NewEvent::new(Component::Http, "content_aborted")
                    .host(note.host)
                    .detail("package", note.package)
                    .detail("generated", self.pos - self.start)
                    .detail("expected", self.end - self.start),
            );
        }
    }
}
