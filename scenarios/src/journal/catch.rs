//! [`Journal::catching`]: a task's future whose panic is journaled as the world's failure where
//! it happens, inside the task (issue 10). Waiting for the `JoinSet` to report it instead races
//! with the world's shutdown: a connection's in-flight mark drops while its task unwinds, the
//! runner sees the world settled and stops it, and the accept loop that would have read the
//! panic is gone. Here the panic is recorded before anything the task holds is released.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{Journal, panic_message};

/// See [`Journal::catching`].
pub struct Catching<F> {
    journal: Journal,
    task: &'static str,
    fut: Pin<Box<F>>,
}

impl<F> std::fmt::Debug for Catching<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catching").field("task", &self.task).finish()
    }
}

impl Journal {
    /// Run `fut`; if it panics, journal the panic (`world`/`panic`, see
    /// [`Journal::record_panic`]) and end with `None` rather than unwind the task further.
    pub fn catching<F: Future>(&self, task: &'static str, fut: F) -> Catching<F> {
        Catching { journal: self.clone(), task, fut: Box::pin(fut) }
    }
}

impl<F: Future> Future for Catching<F> {
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        // The future is not touched again after a panic: it is dropped with `self`.
        match std::panic::catch_unwind(AssertUnwindSafe(|| this.fut.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Some(v)),
            Err(payload) => {
                this.journal.record_panic(this.task, &panic_message(&*payload));
                Poll::Ready(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::task::{Wake, Waker};

    use super::*;
    use crate::Clock;

    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }

    fn run<F: Future>(f: F) -> F::Output {
        let waker = Waker::from(Arc::new(Noop));
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("the test futures are ready at once"),
        }
    }

    #[test]
    fn a_panic_inside_is_journaled_before_the_future_ends() {
        let j = Journal::new(Clock::new(time::OffsetDateTime::UNIX_EPOCH, 1.0));
        assert_eq!(run(j.catching("a task", async { 7 })), Some(7));
        assert_eq!(j.failure(), None);
        let out: Option<()> = run(j.catching("a task", async { panic!("inside") }));
        assert_eq!(out, None);
        assert_eq!(j.failure().as_deref(), Some("a panic in a task: inside"));
    }
}
