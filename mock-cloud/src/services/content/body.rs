//! A response body that generates a package's bytes as hyper asks for them: memory stays at a
//! few chunks per connection whatever the package size. The chunks are recycled: a frame hyper
//! has written and dropped is generated into again, so a download allocates (and the kernel
//! faults in and zeroes) [`POOL`] chunks, not one per 64 KiB. A body dropped before its end
//! (the client hung up, a proxy cut the connection) leaves a journal line saying how far it got.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Frame, SizeHint};
use scenarios::{Component, Journal, NewEvent};

use super::generator::Generator;

/// Bytes generated per frame.
const CHUNK: u64 = 64 * 1024;
/// Frames a body keeps handles to for reuse: more than hyper queues before it writes (its
/// 400 KiB write buffer), so the oldest has usually been written when the next is due.
const POOL: usize = 8;

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
    /// The frames handed to hyper, oldest first: each is taken back once hyper has dropped it.
    sent: VecDeque<Bytes>,
    /// Buffers allocated so far (the rest were reused).
    allocated: usize,
}

impl GeneratedBody {
    /// The bytes `first..=last` (or nothing when `first > last`).
    pub fn new(generator: Generator, first: u64, end: u64, note: AbortNote) -> Self {
        GeneratedBody { generator, start: first, pos: first, end: end.max(first), note: Some(note), sent: VecDeque::new(), allocated: 0 }
    }

    /// A buffer of `n` bytes to generate into (its old contents are all overwritten): the
    /// oldest frame hyper is done with, or a new one.
    fn buffer(&mut self, n: usize) -> BytesMut {
        let oldest_free = self.sent.front().is_some_and(Bytes::is_unique);
        if (oldest_free || self.sent.len() >= POOL)
            && let Some(Ok(mut b)) = self.sent.pop_front().map(Bytes::try_into_mut)
            && b.len() >= n
        {
            b.truncate(n);
            return b;
        }
        self.allocated += 1;
        BytesMut::zeroed(n)
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
        let mut buf = self.buffer(n);
        self.generator.fill(self.pos, &mut buf);
        self.pos += n as u64;
        let frame = buf.freeze();
        self.sent.push_back(frame.clone());
        Poll::Ready(Some(Ok(Frame::data(frame))))
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

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use http_body::Body as _;
    use scenarios::Clock;

    use super::*;

    fn body(first: u64, end: u64) -> GeneratedBody {
        let journal = Journal::new(Clock::new(time::macros::datetime!(2026-01-01 0:00 UTC), 1.0));
        GeneratedBody::new(Generator::new(5, "pkg"), first, end, AbortNote { journal, host: "h".into(), package: "p".into() })
    }

    /// Every frame's bytes, and how many buffers the body allocated for them; `keep` frames are
    /// held (as hyper's write queue holds them) before the oldest is let go.
    fn drain(mut b: GeneratedBody, keep: usize) -> (Vec<u8>, usize) {
        let mut cx = Context::from_waker(Waker::noop());
        let (mut out, mut held) = (Vec::new(), VecDeque::new());
        while let Poll::Ready(Some(Ok(frame))) = Pin::new(&mut b).poll_frame(&mut cx) {
            let data = frame.into_data().unwrap();
            held.push_back(data);
            if held.len() > keep {
                out.extend_from_slice(&held.pop_front().unwrap());
            }
        }
        held.iter().for_each(|d| out.extend_from_slice(d));
        (out, b.allocated)
    }

    #[test]
    fn recycled_frames_carry_the_right_bytes_however_long_the_writer_holds_them() {
        let (first, end) = (3, 40 * CHUNK + 5);
        let mut want = vec![0u8; (end - first) as usize];
        Generator::new(5, "pkg").fill(first, &mut want);
        for keep in [0, 1, 3, POOL - 1, POOL, POOL + 3, 1000] {
            let (got, buffers) = drain(body(first, end), keep);
            assert!(got == want, "holding {keep} frames: the bytes differ");
            // A frame is reused once the writer lets it go, if that is within the pool's reach;
            // a writer holding more than the pool gets a new buffer for every frame (41 here).
            let expected = if keep < POOL { keep + 1 } else { 41 };
            assert_eq!(buffers, expected, "holding {keep} frames");
        }
    }
}
