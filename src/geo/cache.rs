//! Per-thread caches in front of a GeoIP database: the networks found (by the client's /24 or
//! /48) and the records decoded (by their data offset).
//!
//! A lookup walks the database's tree one bit at a time and decodes a record with serde, several
//! thousand instructions together; a hit here costs a few dozen. Each thread has its own slots,
//! so the query path takes no lock. A slot names the database it came from by an id that is never
//! reused, so a reload (a new database) never sees the old one's slots as its own, and a network
//! slot is used only for addresses the network contains, so a hit answers exactly what the
//! database would.

use super::point::Point;
use ipnet::IpNet;
use std::cell::RefCell;
use std::net::IpAddr;

/// What a database record gave for a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeoDetail {
    /// The record had coordinates.
    Coordinates,
    /// Only a country: its centroid is used.
    Country([u8; 2]),
    /// Only a continent: its centroid is used.
    Continent([u8; 2]),
    /// A record without anything usable.
    Nothing,
}

/// Slots per thread in each of the two tables.
const SLOTS: usize = 4096;

/// What a record gave (its point and where that came from), or `None` for an address the
/// database has no usable record for.
pub(super) type Interpreted = Option<(Option<Point>, GeoDetail)>;

#[derive(Clone, Copy)]
struct NetworkSlot {
    db: u64,
    network: IpNet,
    value: Interpreted,
}

#[derive(Clone, Copy)]
struct RecordSlot {
    db: u64,
    offset: usize,
    value: Interpreted,
}

#[derive(Default)]
struct Tables {
    networks: Vec<Option<NetworkSlot>>,
    records: Vec<Option<RecordSlot>>,
}

thread_local! {
    static TABLES: RefCell<Tables> = RefCell::default();
}

/// Slot index of a 64-bit key (Fibonacci hashing).
fn slot(key: u64) -> usize {
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 52) as usize % SLOTS
}

/// The block an address's network slot is kept under: its /24 (IPv4) or /48 (IPv6).
fn block(addr: IpAddr) -> u64 {
    match addr {
        IpAddr::V4(a) => u64::from(u32::from(a) >> 8),
        IpAddr::V6(a) => ((u128::from(a) >> 80) as u64) | 1 << 63,
    }
}

/// The network of database `db` that holds `addr` and its record, when this thread has it.
pub(super) fn network(db: u64, addr: IpAddr) -> Option<(IpNet, Interpreted)> {
    TABLES.with_borrow(|t| {
        let s = t.networks.get(slot(block(addr)))?.as_ref()?;
        (s.db == db && s.network.contains(&addr)).then_some((s.network, s.value))
    })
}

/// Keeps the network found for `addr`.
pub(super) fn keep_network(db: u64, addr: IpAddr, network: IpNet, value: Interpreted) {
    TABLES.with_borrow_mut(|t| {
        if t.networks.is_empty() {
            t.networks.resize(SLOTS, None);
        }
        t.networks[slot(block(addr))] = Some(NetworkSlot { db, network, value });
    });
}

/// The record at `offset` in database `db`, when this thread has decoded it.
pub(super) fn record(db: u64, offset: usize) -> Option<Interpreted> {
    TABLES.with_borrow(|t| {
        let s = t.records.get(slot(offset as u64))?.as_ref()?;
        (s.db == db && s.offset == offset).then_some(s.value)
    })
}

/// Keeps a decoded record.
pub(super) fn keep_record(db: u64, offset: usize, value: Interpreted) {
    TABLES.with_borrow_mut(|t| {
        if t.records.is_empty() {
            t.records.resize(SLOTS, None);
        }
        t.records[slot(offset as u64)] = Some(RecordSlot { db, offset, value });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(lat: f64) -> Interpreted {
        Some((Point::new(lat, 0.0), GeoDetail::Coordinates))
    }

    #[test]
    fn a_network_slot_answers_only_its_database_and_its_addresses() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let neighbour: IpAddr = "10.0.0.200".parse().unwrap();
        keep_network(1, a, "10.0.0.0/16".parse().unwrap(), value(1.0));
        assert_eq!(network(1, neighbour).unwrap().1, value(1.0));
        assert!(network(2, neighbour).is_none(), "another database");
        // A narrower network in the same /24 slot: only its own addresses hit.
        keep_network(1, a, "10.0.0.0/25".parse().unwrap(), value(2.0));
        assert_eq!(network(1, a).unwrap().1, value(2.0));
        assert!(network(1, neighbour).is_none());
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        keep_network(1, v6, "2001:db8::/32".parse().unwrap(), None);
        let (net, v) = network(1, "2001:db8::ffff".parse().unwrap()).unwrap();
        assert_eq!((net.prefix_len(), v), (32, None));
    }

    #[test]
    fn a_record_slot_answers_only_its_database_and_offset() {
        keep_record(7, 1234, value(3.0));
        assert_eq!(record(7, 1234), Some(value(3.0)));
        assert_eq!(record(8, 1234), None);
        assert_eq!(record(7, 1235), None);
    }

    #[test]
    fn another_thread_has_its_own_slots() {
        keep_record(9, 42, value(4.0));
        let elsewhere = std::thread::spawn(|| record(9, 42)).join().unwrap();
        assert_eq!(elsewhere, None);
    }
}
