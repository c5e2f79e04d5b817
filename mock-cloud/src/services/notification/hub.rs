//! The notification service's state for one world: the device actions queued for the tenant,
//! and the polls waiting for them. A queued action stays queued until a poll answers with it; a
//! poll that goes away (client gone, connection cut) takes nothing with it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use scenarios::{Component, Journal, NewEvent};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Notify;

/// A device action from the admin center, as the notification service forwards it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Action {
    pub task_guid: String,
    #[serde(rename = "TemplateID")]
    pub template_id: String,
    pub tenant_id: String,
    #[serde(rename = "AADUserID")]
    pub aad_user_id: Option<String>,
    #[serde(rename = "TargetDeviceIDs")]
    pub target_device_ids: Vec<String>,
    pub queued_at: String,
}

#[derive(Debug)]
pub struct Hub {
    seed: u64,
    queue: Mutex<VecDeque<Action>>,
    arrived: Notify,
    next_task: AtomicU64,
    polls: AtomicUsize,
}

/// A GUID-shaped id, deterministic from the world seed and a counter.
fn task_guid(seed: u64, n: u64) -> String {
    let mix = crate::mix::splitmix64;
    let (a, b) = (mix(seed ^ n.wrapping_mul(2)), mix(seed ^ n.wrapping_mul(2).wrapping_add(1)));
    format!("{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}", a >> 32, (a >> 16) & 0xffff, a & 0xfff, (b >> 48) & 0x3fff | 0x8000, b & 0xffff_ffff_ffff)
}

impl Hub {
    pub fn new(seed: u64) -> Hub {
        Hub { seed, queue: Mutex::new(VecDeque::new()), arrived: Notify::new(), next_task: AtomicU64::new(1), polls: AtomicUsize::new(0) }
    }

    pub fn queue(&self, template_id: String, tenant_id: String, aad_user_id: Option<String>, targets: Vec<String>, now: String) -> Action {
        let n = self.next_task.fetch_add(1, Ordering::Relaxed);
        let action = Action { task_guid: task_guid(self.seed, n), template_id, tenant_id, aad_user_id, target_device_ids: targets, queued_at: now };
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).push_back(action.clone());
        self.arrived.notify_waiters();
        action
    }

    fn take(&self) -> Vec<Action> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).drain(..).collect()
    }

    /// Everything queued, as soon as there is something, or nothing at `deadline`.
    pub async fn wait(&self, deadline: tokio::time::Instant) -> Vec<Action> {
        loop {
            let notified = self.arrived.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let ready = self.take();
            if !ready.is_empty() {
                return ready;
            }
            tokio::select! {
                _ = notified => continue,
                _ = tokio::time::sleep_until(deadline) => return self.take(),
            }
        }
    }

    /// Polls being held right now.
    #[cfg(test)]
    pub fn polls(&self) -> usize {
        self.polls.load(Ordering::Relaxed)
    }

    pub fn pending(&self) -> usize {
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// One held poll. Dropped without [`PollGuard::finish`], it journals the abandonment.
#[derive(Debug)]
pub struct PollGuard {
    hub: Arc<Hub>,
    journal: Journal,
    host: String,
    started: Instant,
    done: bool,
}

impl PollGuard {
    pub fn new(hub: Arc<Hub>, journal: Journal, host: String, started: Instant) -> PollGuard {
        let polls = hub.polls.fetch_add(1, Ordering::Relaxed) + 1;
        journal.record(NewEvent::new(Component::Http, "poll_started").host(host.clone()).detail("polls", polls).detail("pending_actions", hub.pending()));
        PollGuard { hub, journal, host, started, done: false }
    }

    fn held_seconds(&self) -> f64 {
        self.journal.clock().to_sim(self.started.elapsed()).0.as_secs_f64()
    }

    /// The poll's answer; journals what was delivered.
    pub fn finish(mut self, actions: Vec<Action>, now: &str, tenant: &str) -> Value {
        self.done = true;
        let held = self.held_seconds();
        if !actions.is_empty() {
            self.journal.record(
                NewEvent::new(Component::Http, "notifications_delivered").host(self.host.clone()).detail("count", actions.len()).detail("held_s", held),
            );
        }
        json!({ "TenantId": tenant, "ServerTime": now, "HeldSeconds": held, "Notifications": actions })
    }
}

impl Drop for PollGuard {
    fn drop(&mut self) {
        let left = self.hub.polls.fetch_sub(1, Ordering::Relaxed) - 1;
        if !self.done {
            self.journal.record(
                NewEvent::new(Component::Http, "poll_abandoned")
                    .host(self.host.clone())
                    .detail("held_s", self.held_seconds())
                    .detail("polls_left", left)
                    .detail("pending_actions", self.hub.pending()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_guids_are_guids_and_deterministic() {
        let a = task_guid(0, 1);
        assert_eq!(a, task_guid(0, 1));
        assert_ne!(a, task_guid(0, 2));
        assert_ne!(a, task_guid(1, 1));
        let parts: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12], "{a}");
    }
}
