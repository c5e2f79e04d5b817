//! A client command's processes, and how they are stopped (issue 13, process hygiene).
//!
//! Every command starts as the leader of its own process group (`setpgid(0, 0)` through
//! `CommandExt::process_group(0)`), so whatever it starts — `sh -c 'sleep 997 & sleep 998'` —
//! shares its group. Stopping a client is one procedure for every cause (it ended and left
//! children behind, it timed out, `memsim run` was interrupted): SIGTERM to the whole group,
//! then, for what is still there after a grace period, SIGKILL. A process that leaves the
//! group on purpose (`setsid`) is beyond this, as it is beyond a shell's job control.

use std::time::Duration;

use rustix::process::{Pid, Signal};
use tokio::process::Child;

/// How long a client's processes get between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_secs(2);

/// How often the stop procedure looks whether the group is gone. The kernel tells no one
/// when a process group empties, so this is a bounded poll, not a synchronisation.
const POLL: Duration = Duration::from_millis(20);

/// The process group a started command leads.
#[derive(Debug, Clone, Copy)]
pub struct Group(Pid);

/// What stopping a group took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Nothing of the group was left.
    Empty,
    /// SIGTERM ended every process of the group within the grace period.
    Terminated,
    /// Processes outlived SIGTERM's grace period and got SIGKILL.
    Killed,
}

impl Group {
    /// The group `child` leads (it was started with `process_group(0)`); `None` once it was reaped.
    pub fn of(child: &Child) -> Option<Group> {
        child.id().and_then(|id| Pid::from_raw(i32::try_from(id).ok()?)).map(Group)
    }

    /// Whether any process of the group is left (a zombie the runner has not reaped counts:
    /// `exited` reaps the leader as it polls).
    fn alive(self) -> bool {
        rustix::process::test_kill_process_group(self.0).is_ok()
    }

    fn signal(self, signal: Signal) {
        // ESRCH: the group emptied meanwhile, which is what the caller wants.
        let _ = rustix::process::kill_process_group(self.0, signal);
    }

    /// SIGTERM to every process of the group; SIGKILL to those still there after `grace`,
    /// or at once when `stop` is (or becomes) forced by a second signal. Reaps the leader
    /// (`child`) on the way, so that it does not keep the group alive as a zombie.
    pub async fn stop(self, child: &mut Child, grace: Duration, stop: &mut super::Stop) -> Stopped {
        let _ = child.try_wait();
        if !self.alive() {
            return Stopped::Empty;
        }
        if !stop.borrow().force {
            self.signal(Signal::TERM);
            let deadline = tokio::time::Instant::now() + grace;
            while tokio::time::Instant::now() < deadline {
                let _ = child.try_wait();
                if !self.alive() {
                    return Stopped::Terminated;
                }
                tokio::select! {
                    () = tokio::time::sleep(POLL) => {}
                    () = super::client::forced(stop) => break,
                }
            }
        }
        self.signal(Signal::KILL);
        let _ = child.wait().await;
        Stopped::Killed
    }
}

/// How a process ended by a signal is described: its number and, for the common ones, name.
pub fn signal_name(signal: i32) -> String {
    let name = match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => return format!("signal {signal}"),
    };
    format!("signal {signal} ({name})")
}
