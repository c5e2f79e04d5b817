//! The journal's behaviour as its readers rely on it: order, listeners, the window's byte bound
//! and its eviction marker, the file, the read-back, panics.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use time::OffsetDateTime;

use super::*;
use crate::Clock;

fn clock() -> Clock {
    Clock::new(OffsetDateTime::UNIX_EPOCH, 1.0)
}

#[test]
fn records_in_order_and_exports_json_lines() {
    let j = Journal::new(clock());
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    j.subscribe(move |_| {
        s.fetch_add(1, Ordering::SeqCst);
    });
    j.record(NewEvent::new(Component::Tls, "handshake").host("a.example").detail("version", "TLSv1.3"));
    j.record(NewEvent::new(Component::Http, "request").fault(crate::PkiFaultKind::Expired));
    assert_eq!(seen.load(Ordering::SeqCst), 2);
    let lines = j.to_json_lines();
    let parsed: Vec<Event> = lines.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(parsed.len(), 2);
    assert_eq!(parsed[0].seq, 0);
    assert_eq!(parsed[0].host.as_deref(), Some("a.example"));
    assert_eq!(parsed[0].detail["version"], "TLSv1.3");
    assert_eq!(parsed[1].fault.as_deref(), Some("pki.expired"));
    assert_eq!(j.snapshot(), parsed, "the window gives back exactly what it stamped");
    assert!(j.find(1, |e| e.what == "handshake").is_none());
}

// issue 11 (defect 5): the journal was bounded by a count of events (1M events, 1.5 GB) and
// dropped the oldest without a word.
#[test]
fn the_window_is_bounded_in_bytes_and_eviction_leaves_a_marker() {
    let budget = 16 * 1024;
    let j = Journal::with_window(clock(), budget);
    let markers = Arc::new(AtomicUsize::new(0));
    let m = markers.clone();
    j.subscribe(move |e| {
        if e.what == DROPPED {
            m.fetch_add(1, Ordering::SeqCst);
        }
    });
    j.record(NewEvent::new(Component::World, "starting").detail("scenario", "s"));
    for i in 0..2000 {
        j.record(NewEvent::new(Component::Dns, "query").host(format!("host-{i}.example")).detail("i", i).detail("padding", "p".repeat(i % 50)));
        let (bytes, max) = j.window_bytes();
        assert!(bytes <= max, "window {bytes} bytes over its {max}");
    }
    let kept = j.snapshot();
    let held: usize = kept.iter().filter(|e| e.what != "starting").map(|e| serde_json::to_string(e).unwrap().len() + ENTRY_OVERHEAD).sum();
    assert!(held <= budget, "{held} bytes of lines kept");
    assert!(j.dropped() > 0);
    // Every seq recorded is either in memory or counted as dropped; markers have seqs too.
    let total = kept.last().unwrap().seq + 1;
    assert_eq!(j.dropped() + j.len() as u64, total);
    // The world's lifecycle event outlives the eviction.
    assert_eq!((kept[0].seq, kept[0].what.as_str()), (0, "starting"));
    let seqs: Vec<u64> = kept.iter().map(|e| e.seq).collect();
    assert!(seqs.windows(2).all(|p| p[0] < p[1]), "in seq order");
    // The last marker says what left memory: counts and seqs, and that no file holds them.
    let marker = kept.iter().rev().find(|e| e.what == DROPPED).expect("a marker in the window");
    assert_eq!(marker.component, Component::World);
    // Seqs 0..=last_seq left the window; only `starting` (seq 0) was kept aside.
    assert_eq!(marker.detail["dropped_total"], marker.detail["last_seq"]);
    assert!(marker.detail["events"].as_u64().unwrap() > 0 && marker.detail["bytes"].as_u64().unwrap() >= (budget / 4) as u64);
    assert_eq!(marker.detail["in_file"], false);
    assert!(markers.load(Ordering::SeqCst) >= 2, "one marker per eviction, told to listeners");
    assert!(is_kind_of(Component::World, DROPPED), "expectations may name the marker");
    // Without a file, the complete journal is what memory holds.
    assert_eq!(j.complete().unwrap(), kept);
}

#[test]
fn a_streamed_journal_holds_every_event_and_reads_back_complete() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let j = Journal::with_window(clock(), 8 * 1024);
    j.record(NewEvent::new(Component::World, "starting"));
    j.stream_to(&path).unwrap();
    for i in 0..1000 {
        j.record(NewEvent::new(Component::Http, "request").detail("i", i));
    }
    j.flush(Duration::from_secs(10)).unwrap();
    let file: Vec<Event> = std::fs::read_to_string(&path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let seqs: Vec<u64> = file.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>(), "every seq, in order, none missing");
    assert_eq!(file.iter().filter(|e| e.what == "request").count(), 1000);
    assert!(j.dropped() > 0, "the window is smaller than the journal");
    assert!(file.iter().any(|e| e.what == DROPPED && e.detail["in_file"] == true));
    assert_eq!(j.complete().unwrap(), file, "the read-back is the whole file");
    j.close_file();
    j.record(NewEvent::new(Component::Http, "request"));
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), file.len(), "closed: no more lines");
}

#[test]
fn a_panic_is_journaled_and_kept_as_the_failure() {
    let j = Journal::new(clock());
    assert_eq!(j.failure(), None);
    let payload: Box<dyn std::any::Any + Send> = Box::new(String::from("boom"));
    j.record_panic("the HTTP front", &panic_message(&*payload));
    j.record_panic("the proxy", "second");
    assert_eq!(j.failure().as_deref(), Some("a panic in the HTTP front: boom"));
    let e = j.find(0, |e| e.what == "panic").unwrap();
    assert_eq!((e.component, e.detail["message"].as_str()), (Component::World, Some("boom")));
    assert_eq!(panic_message(&*Box::new("static str") as &(dyn std::any::Any + Send)), "static str");
}

#[test]
fn waits_for_activity_to_settle() {
    let j = Journal::new(clock());
    assert!(j.wait_settled(Duration::ZERO));
    let a = j.begin();
    assert!(!j.wait_settled(Duration::from_millis(1)));
    let j2 = j.clone();
    let t = std::thread::spawn(move || j2.wait_settled(Duration::from_secs(10)));
    drop(a);
    assert!(t.join().unwrap());
}

// issue 11 follow-up: listeners were called with the listeners' mutex held, so a listener
// that recorded an event (or subscribed) deadlocked its recorder.
#[test]
fn a_listener_may_record_and_subscribe() {
    let j = Journal::new(clock());
    let inner = j.clone();
    j.subscribe(move |e| {
        if e.what == "handshake" {
            inner.record(NewEvent::new(Component::Http, "request"));
            inner.subscribe(|_| {});
        }
    });
    let (done, finished) = std::sync::mpsc::channel();
    let recorder = j.clone();
    std::thread::spawn(move || {
        recorder.record(NewEvent::new(Component::Tls, "handshake"));
        let _ = done.send(());
    });
    finished.recv_timeout(Duration::from_secs(10)).expect("a recording listener deadlocked its recorder");
    let whats: Vec<String> = j.snapshot().into_iter().map(|e| e.what).collect();
    assert_eq!(whats, ["handshake", "request"]);
}

// issue 20: the journal writes each line straight from the event, without the map and the
// `Event` it used to serialize; the bytes must stay what serializing that `Event` gives.
#[test]
fn a_line_written_straight_is_byte_for_byte_the_serialized_event() {
    let events = [
        NewEvent::new(Component::World, "ready"),
        NewEvent::new(Component::Tls, "handshake").host("a.example").detail("version", "TLSv1.3").detail("chain_length", 3),
        NewEvent::new(Component::Http, "request")
            .host("quote\"back\\slash\u{1}é.example")
            .fault(crate::PkiFaultKind::Expired)
            .detail("status", 200)
            .detail("ms", 0.1)
            .detail("big", 1e21)
            .detail("whole", 1.0)
            .detail("nan", f64::NAN)
            .detail("path", "/a\"b\n")
            .detail("status", 421)
            .detail("faults", vec!["pki.expired", "pki.revoked"])
            .detail("certificates", serde_json::json!([{"serial": "0a", "status": "good"}]))
            .detail("Upper", true)
            .detail("_under", -1),
    ];
    for (i, mut e) in events.into_iter().enumerate() {
        let sim = OffsetDateTime::UNIX_EPOCH + Duration::from_millis(1_234_567_891_234) + Duration::from_nanos(i as u64 * 1_000_017);
        let wall_ms = [0.0, 12.5, 1.0 / 3.0][i];
        line::sort_details(&mut e);
        let mut body = Vec::new();
        line::body(&e, &mut body);
        let written = line::stamped(i as u64 * 1_000_000_007, sim, wall_ms, &body);
        let event = line::event(i as u64 * 1_000_000_007, sim, wall_ms, e);
        assert_eq!(&*written, serde_json::to_string(&event).unwrap(), "event {i}");
        let back: Event = serde_json::from_str(&written).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), &*written);
    }
}

#[test]
fn a_listener_of_one_kind_hears_only_that_kind() {
    let j = Journal::new(clock());
    let heard = Arc::new(std::sync::Mutex::new(Vec::new()));
    let h = heard.clone();
    j.subscribe_to(Component::World, "panic", move |e| h.lock().unwrap().push(e.clone()));
    j.record(NewEvent::new(Component::Dns, "query").host("a.example"));
    j.record_panic("a task", "boom");
    j.record(NewEvent::new(Component::World, "ready"));
    let heard = heard.lock().unwrap();
    assert_eq!(heard.len(), 1, "{heard:?}");
    assert_eq!((heard[0].seq, heard[0].detail["message"].as_str()), (1, Some("boom")));
    // The window's events are read back from their JSON lines, and serde_json's default float
    // parser may land one ULP off the f64 that was written (0.045235000000000004 came back as
    // 0.045235): `wall_ms` is compared to within a nanosecond, everything else exactly.
    let (mut listened, window) = (heard[0].clone(), j.snapshot()[1].clone());
    assert!((listened.wall_ms - window.wall_ms).abs() < 1e-6, "{} vs {}", listened.wall_ms, window.wall_ms);
    listened.wall_ms = window.wall_ms;
    assert_eq!(listened, window, "the listener's event is the one in the window");
}
