//! Who observes a replica, and what the fleet concludes from their verdicts: pure functions of
//! the membership and the verdicts read at one etcd revision, so every instance that read the
//! same revision concludes the same.

use crate::config::fleet::Quorum;

/// Rendezvous (highest random weight) hashing: the `k` members with the highest score for
/// this replica (0: every member). Adding or removing a member moves only its own share.
pub fn observers<'a>(replica: &str, members: &'a [String], k: u32) -> Vec<&'a str> {
    let mut scored: Vec<(u64, &str)> = members
        .iter()
        .map(|m| {
            let key = [replica.as_bytes(), &[0], m.as_bytes()].concat();
            (
                crate::hash::mix64(crate::hash::hash_bytes(&key)),
                m.as_str(),
            )
        })
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    let k = if k == 0 { scored.len() } else { k as usize };
    scored.into_iter().take(k).map(|(_, m)| m).collect()
}

/// Down when enough of the replica's current observers say so: more than half of them
/// (`majority`; an observer that has not published yet counts as up), or at least `n`.
pub fn down(observers: &[&str], says_down: impl Fn(&str) -> bool, quorum: Quorum) -> bool {
    let votes = observers.iter().filter(|o| says_down(o)).count();
    match quorum {
        Quorum::Majority => votes * 2 > observers.len(),
        Quorum::Count(n) => votes >= n as usize,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("dns-{i}")).collect()
    }

    #[test]
    fn each_replica_gets_k_observers_spread_over_the_fleet_and_stable_when_one_leaves() {
        let fleet = members(20);
        let mut load = std::collections::HashMap::<&str, usize>::new();
        let replicas: Vec<String> = (0..2000)
            .map(|i| format!("replica/z/r{i}/eastus"))
            .collect();
        for r in &replicas {
            let o = observers(r, &fleet, 3);
            assert_eq!(o.len(), 3);
            for m in o {
                *load.entry(m).or_default() += 1;
            }
        }
        // 6,000 observations over 20 members: about 300 each.
        assert!(load.values().all(|&n| (200..400).contains(&n)), "{load:?}");
        // dns-7 leaves: only the replicas it observed change observers, by one.
        let without: Vec<String> = fleet.iter().filter(|m| *m != "dns-7").cloned().collect();
        for r in &replicas {
            let (a, b) = (observers(r, &fleet, 3), observers(r, &without, 3));
            let kept = a.iter().filter(|m| b.contains(m)).count();
            assert_eq!(kept, if a.contains(&"dns-7") { 2 } else { 3 }, "{r}");
        }
        assert_eq!(observers("x", &fleet, 0).len(), 20);
        assert_eq!(observers("x", &members(2), 3).len(), 2);
    }

    #[test]
    fn one_observer_never_takes_a_replica_down_alone() {
        let o = ["a", "b", "c"];
        assert!(!down(&o, |m| m == "a", Quorum::Majority));
        assert!(down(&o, |m| m != "c", Quorum::Majority));
        assert!(!down(&o, |m| m == "a", Quorum::Count(2)));
        assert!(down(&o, |m| m == "a", Quorum::Count(1)));
        assert!(!down(&["a", "b"], |m| m == "a", Quorum::Majority));
        assert!(!down(&[], |_| true, Quorum::Majority));
    }
}
