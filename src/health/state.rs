//! The pure health state machine of one replica: fall/rise hysteresis and flap damping.
//!
//! No clock and no I/O: the caller passes the time of each probe result (milliseconds on any
//! monotonic scale), so the rules are tested as tables.

use std::collections::VecDeque;

/// The thresholds of a probe policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Consecutive failures that turn a healthy replica unhealthy.
    pub fall: u32,
    /// Consecutive successes that turn an unhealthy replica healthy.
    pub rise: u32,
    /// More transitions than this within `flap_window_ms` is flapping.
    pub flap_limit: u32,
    /// The flap window.
    pub flap_window_ms: u64,
    /// First hold-down; each further one doubles, up to 64 times the first.
    pub hold_down_ms: u64,
}

/// Health as routing sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// No probe has finished yet: counted healthy.
    Unknown,
    /// Healthy.
    Up,
    /// Unhealthy.
    Down,
}

impl std::fmt::Display for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Health {
    /// The state in plain words, as logs, events and `/status` write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Down => "down",
        }
    }

    /// Whether routing may use the replica.
    pub fn usable(self) -> bool {
        self != Health::Down
    }
}

/// A change of health, with the reason for the log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The state before.
    pub from: Health,
    /// The state after.
    pub to: Health,
    /// Why, in words.
    pub reason: String,
}

/// One replica's probe history and health.
#[derive(Debug, Clone)]
pub struct Machine {
    health: Health,
    successes: u32,
    failures: u32,
    suspect: bool,
    transitions: VecDeque<u64>,
    hold_until_ms: Option<u64>,
    hold_level: u32,
}

impl Default for Machine {
    fn default() -> Self {
        Self {
            health: Health::Unknown,
            successes: 0,
            failures: 0,
            suspect: false,
            transitions: VecDeque::new(),
            hold_until_ms: None,
            hold_level: 0,
        }
    }
}

impl Machine {
    /// The current health.
    pub fn health(&self) -> Health {
        self.health
    }

    /// Consecutive successes so far.
    pub fn successes(&self) -> u32 {
        self.successes
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// True from a failed probe of a usable replica until it is down or has had `rise`
    /// successes again: answers that choose it carry the short suspect TTL.
    pub fn suspect(&self) -> bool {
        self.suspect
    }

    /// When a hold-down ends, if one is running.
    pub fn held_until_ms(&self) -> Option<u64> {
        self.hold_until_ms
    }

    /// Records one probe result at `now_ms`; returns the transition it caused, if any.
    pub fn observe(&mut self, now_ms: u64, success: bool, t: &Thresholds) -> Option<Transition> {
        if success {
            self.successes = self.successes.saturating_add(1);
            self.failures = 0;
        } else {
            self.failures = self.failures.saturating_add(1);
            self.successes = 0;
        }
        let transition = self.step(now_ms, success, t);
        self.suspect = match self.health {
            Health::Down => false,
            _ if !success => self.health == Health::Up,
            _ => self.suspect && self.successes < t.rise,
        };
        transition
    }

    /// The hysteresis and flap rules of [`Machine::observe`], after the counts are updated.
    fn step(&mut self, now_ms: u64, success: bool, t: &Thresholds) -> Option<Transition> {
        while self
            .transitions
            .front()
            .is_some_and(|&at| now_ms.saturating_sub(at) > t.flap_window_ms)
        {
            self.transitions.pop_front();
        }
        if self.transitions.is_empty() && self.hold_until_ms.is_none() {
            self.hold_level = 0;
        }
        if let Some(until) = self.hold_until_ms {
            if now_ms < until {
                return None;
            }
            self.hold_until_ms = None;
        }
        let (to, reason) = match self.health {
            Health::Unknown if success => (Health::Up, "first probe succeeded".to_string()),
            Health::Unknown => (Health::Down, "first probe failed".to_string()),
            Health::Up if self.failures >= t.fall => (
                Health::Down,
                format!("{} consecutive failures (fall {})", self.failures, t.fall),
            ),
            Health::Down if self.successes >= t.rise => {
                if self.transitions.len() as u32 >= t.flap_limit {
                    return self.hold(now_ms, t);
                }
                (
                    Health::Up,
                    format!("{} consecutive successes (rise {})", self.successes, t.rise),
                )
            }
            _ => return None,
        };
        let from = self.health;
        self.health = to;
        if from != Health::Unknown {
            self.transitions.push_back(now_ms);
        }
        Some(Transition { from, to, reason })
    }

    /// Holds a flapping replica down for a growing time instead of letting it rise.
    fn hold(&mut self, now_ms: u64, t: &Thresholds) -> Option<Transition> {
        let factor = 1u64 << self.hold_level.min(6);
        let hold = t.hold_down_ms.saturating_mul(factor);
        self.hold_until_ms = Some(now_ms.saturating_add(hold));
        self.hold_level += 1;
        // The hold level remembers the flapping; the next hold needs a new run of transitions.
        let transitions = self.transitions.len();
        self.transitions.clear();
        Some(Transition {
            from: Health::Down,
            to: Health::Down,
            reason: format!(
                "flapping: {} transitions within {} s; held down for {} s",
                transitions,
                t.flap_window_ms / 1000,
                hold / 1000
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Thresholds = Thresholds {
        fall: 3,
        rise: 3,
        flap_limit: 4,
        flap_window_ms: 600_000,
        hold_down_ms: 60_000,
    };

    /// Feeds results every 10 s; returns the health after each one.
    fn run(m: &mut Machine, start_ms: u64, results: &str) -> String {
        trace(m, start_ms, results, |m| match m.health() {
            Health::Unknown => '?',
            Health::Up => 'U',
            Health::Down => 'D',
        })
    }

    /// Feeds results every 10 s; `show` writes the machine's state after each one.
    fn trace(m: &mut Machine, start_ms: u64, results: &str, show: fn(&Machine) -> char) -> String {
        results
            .chars()
            .enumerate()
            .map(|(i, c)| {
                m.observe(start_ms + i as u64 * 10_000, c == '+', &T);
                show(m)
            })
            .collect()
    }

    #[test]
    fn table() {
        for (what, results, want) in [
            ("first success decides", "+", "U"),
            ("first failure decides", "-", "D"),
            ("fall 3", "+--+---", "UUUUUUD"),
            ("rise 3", "-++-+++", "DDDDDDU"),
            ("a single blip changes nothing", "+-+-+-+", "UUUUUUU"),
            (
                "throttled (429 counts as success) never falls",
                "++++++++",
                "UUUUUUUU",
            ),
            ("down and back", "+---+++", "UUUDDDU"),
        ] {
            assert_eq!(run(&mut Machine::default(), 0, results), want, "{what}");
        }
    }

    #[test]
    fn suspect_from_the_first_failure_until_down_or_risen_again() {
        // 'S' = up but suspect.
        let suspicion = |results: &str| {
            trace(&mut Machine::default(), 0, results, |m| {
                match (m.health(), m.suspect()) {
                    (Health::Up, true) => 'S',
                    (Health::Up, false) => 'U',
                    (Health::Down, false) => 'D',
                    other => panic!("{other:?}"),
                }
            })
        };
        for (what, results, want) in [
            ("healthy", "+++", "UUU"),
            ("a blip is suspect until rise successes", "+-+++", "USSSU"),
            ("suspect until down", "+---", "USSD"),
            (
                "down is not suspect, nor is its recovery",
                "---+++",
                "DDDDDU",
            ),
            ("suspect again on the next failure", "+-++-+++", "USSSSSSU"),
            ("a first failure is down at once", "-", "D"),
        ] {
            assert_eq!(suspicion(results), want, "{what}");
        }
    }

    #[test]
    fn flapping_is_held_down_for_growing_times() {
        let mut m = Machine::default();
        // Four transitions inside ten minutes: U→D, D→U, U→D, D→U.
        assert_eq!(run(&mut m, 0, "+---+++---+++"), "UUUDDDUUUDDDU");
        // The fifth would be allowed (down), the next rise is held: flap limit 4 reached.
        assert_eq!(run(&mut m, 130_000, "---+++"), "UUDDDD");
        let until = m.held_until_ms().expect("held");
        assert_eq!(until, 130_000 + 50_000 + 60_000);
        // Successes during the hold change nothing; when it ends, a replica that kept
        // succeeding rises at once.
        assert_eq!(run(&mut m, 190_000, "+++"), "DDD");
        assert_eq!(run(&mut m, 250_000, "+"), "U");
        assert_eq!(m.held_until_ms(), None);
        // Flapping again within the window: the hold doubles.
        assert_eq!(run(&mut m, 260_000, "---+++---+++"), "UUDDDUUUDDDD");
        assert_eq!(m.held_until_ms(), Some(370_000 + 120_000));
    }

    #[test]
    fn the_hold_level_resets_after_a_quiet_window() {
        let mut m = Machine::default();
        run(&mut m, 0, "+---+++---+++---+++");
        assert!(m.held_until_ms().is_some());
        // Long after: healthy for more than the window, then one outage is a plain outage.
        run(&mut m, 400_000, "++++");
        run(&mut m, 2_000_000, "---+++");
        assert_eq!(m.health(), Health::Up);
        assert_eq!(m.held_until_ms(), None);
    }
}
