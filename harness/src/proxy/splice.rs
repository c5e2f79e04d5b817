//! Bulk between two sockets without copying it through the proxy (Linux): once an unshaped
//! direction of a tunnel proves to be bulk, its bytes move socket → pipe → socket with
//! splice(2), through one pipe of [`PIPE`] bytes the direction keeps to its end. The kernel
//! hands the received pages on to the sending socket instead of copying them out to user space
//! and back in. The pipe must be large: with the default 64 KiB a transfer takes four times as
//! many system calls and wake-ups, which is why an earlier trial with default pipes was slower
//! than copying (bench/RESULTS.md, 2026-11-22). When no pipe can be had or grown (the per-user
//! pipe quota, `/proc/sys/fs/pipe-user-pages-soft`), the direction stays on the ordinary copy.

use std::io;

use tokio::io::Interest;
use tokio::net::TcpStream;

/// Pipe capacity: the most one splice moves (the default `/proc/sys/fs/pipe-max-size`).
pub const PIPE: usize = 1 << 20;

/// One direction's pipe; empty between [`Pipe::fill`]'s bytes having been drained.
#[derive(Debug)]
pub struct Pipe {
    #[cfg(target_os = "linux")]
    r: std::os::fd::OwnedFd,
    #[cfg(target_os = "linux")]
    w: std::os::fd::OwnedFd,
}

#[cfg(target_os = "linux")]
impl Pipe {
    /// A pipe of [`PIPE`] bytes, or `None` (no splice: copy instead).
    pub fn new() -> Option<Pipe> {
        use rustix::pipe::{PipeFlags, fcntl_setpipe_size, pipe_with};
        let (r, w) = pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK).ok()?;
        (fcntl_setpipe_size(&w, PIPE).ok()? >= PIPE).then_some(Pipe { r, w })
    }

    /// Move what `src` has received (at most [`PIPE`] bytes) into the empty pipe; `Ok(0)` at the
    /// end of the stream.
    pub async fn fill(&self, src: &TcpStream) -> io::Result<usize> {
        loop {
            src.readable().await?;
            match src.try_io(Interest::READABLE, || splice(src, &self.w, PIPE)) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                r => return r,
            }
        }
    }

    /// Move the `n` bytes the pipe holds into `dst`, telling `sent` each step's count.
    pub async fn drain(&self, dst: &TcpStream, n: usize, mut sent: impl FnMut(usize)) -> io::Result<()> {
        let mut left = n;
        while left > 0 {
            dst.writable().await?;
            match dst.try_io(Interest::WRITABLE, || splice(&self.r, dst, left)) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(k) => {
                    left -= k;
                    sent(k);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

#[cfg(target_os = "linux")]
fn splice(from: impl std::os::fd::AsFd, to: impl std::os::fd::AsFd, len: usize) -> io::Result<usize> {
    use rustix::pipe::SpliceFlags;
    Ok(rustix::pipe::splice(from, None, to, None, len, SpliceFlags::MOVE | SpliceFlags::NONBLOCK)?)
}

#[cfg(not(target_os = "linux"))]
impl Pipe {
    pub fn new() -> Option<Pipe> {
        None
    }

    pub async fn fill(&self, _src: &TcpStream) -> io::Result<usize> {
        Err(io::ErrorKind::Unsupported.into())
    }

    pub async fn drain(&self, _dst: &TcpStream, _n: usize, _sent: impl FnMut(usize)) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    async fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (a, b) = tokio::join!(TcpStream::connect(l.local_addr().unwrap()), l.accept());
        (a.unwrap(), b.unwrap().0)
    }

    /// 8 MiB, not a repeating buffer, so a lost or doubled page shows.
    fn pattern() -> Vec<u8> {
        (0..8u32 << 20).map(|i| (i ^ (i >> 8) ^ (i >> 17)) as u8).collect()
    }

    #[tokio::test]
    async fn a_pipe_moves_every_byte_between_two_sockets_and_passes_the_end_on() {
        let (mut sender, from) = pair().await;
        let (to, mut receiver) = pair().await;
        let pipe = Pipe::new().expect("a 1 MiB pipe (pipe-max-size is 1 MiB by default)");
        let data = pattern();
        let send = async {
            sender.write_all(&data).await.unwrap();
            sender.shutdown().await.unwrap();
        };
        let relay = async {
            let (mut moved, mut steps) = (0, 0);
            loop {
                let n = pipe.fill(&from).await.unwrap();
                if n == 0 {
                    break;
                }
                assert!(n <= PIPE);
                pipe.drain(&to, n, |k| moved += k).await.unwrap();
                steps += 1;
            }
            drop(to);
            (moved, steps)
        };
        let receive = async {
            let mut got = Vec::new();
            receiver.read_to_end(&mut got).await.unwrap();
            got
        };
        let ((), (moved, steps), got) = tokio::join!(send, relay, receive);
        assert_eq!(moved, data.len());
        assert!(steps >= data.len() / PIPE, "{steps} steps");
        assert!(got == data, "the bytes differ (got {} of {})", got.len(), data.len());
    }
}
