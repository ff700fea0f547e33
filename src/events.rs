//! The recent-events log the status page and `/status` show: health transitions with their
//! reasons, and reloads applied or rejected. Bounded (the newest [`KEEP`]); off the query path.

use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Mutex;

/// How many events are kept.
pub const KEEP: usize = 200;

/// One event.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Event {
    /// When, in Unix seconds.
    pub at_unix: f64,
    /// `health` (a probe's transition), `reload` or `reload-failed`.
    pub kind: &'static str,
    /// What it is about: a probe's target (`myregistry.azurecr.io/eastus`, `region eastus`) or
    /// the configuration.
    pub subject: String,
    /// The change (`up → down`, `generation 3`).
    pub change: String,
    /// Why: the state machine's reason, or the reload error.
    pub reason: String,
}

/// The log.
#[derive(Debug, Default)]
pub struct EventLog {
    events: Mutex<VecDeque<Event>>,
}

impl EventLog {
    /// Records an event now; the oldest goes when [`KEEP`] are held.
    pub fn record(&self, kind: &'static str, subject: String, change: String, reason: String) {
        let event = Event {
            at_unix: crate::clock::unix_now().as_secs_f64(),
            kind,
            subject,
            change,
            reason,
        };
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        if events.len() == KEEP {
            events.pop_front();
        }
        events.push_back(event);
    }

    /// The events, newest first.
    pub fn recent(&self) -> Vec<Event> {
        let events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        events.iter().rev().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_first_and_at_most_keep() {
        let log = EventLog::default();
        for i in 0..KEEP + 5 {
            log.record(
                "reload",
                "configuration".into(),
                format!("generation {i}"),
                String::new(),
            );
        }
        let recent = log.recent();
        assert_eq!(recent.len(), KEEP);
        assert_eq!(recent[0].change, format!("generation {}", KEEP + 4));
        assert_eq!(recent[KEEP - 1].change, "generation 5");
    }
}
