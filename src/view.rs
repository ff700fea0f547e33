//! Split horizon: which view (VNet) a query belongs to. The packet's source address decides;
//! an EDNS Client Subnet only when the source is one of the view's trusted resolvers.

use crate::config::{View, Zone};
use crate::dns::wire::ClientSubnet;
use std::net::IpAddr;

/// Which view a client is in, and why.
#[derive(Debug, Clone, Copy)]
pub struct ViewMatch<'a> {
    /// The view.
    pub view: &'a View,
    /// Its index in the zone's views (a metrics label).
    pub index: usize,
    /// ECS scope of the match: 0 when the source address selected it, else the view network's
    /// prefix (a trusted resolver's ECS selected it).
    pub scope: u8,
}

/// Picks the view of a query: the source address decides; an ECS address only when the source
/// is one of the view's trusted resolvers.
pub fn select_view<'a>(
    zone: &'a Zone,
    index: &ViewIndex,
    source: IpAddr,
    ecs: Option<&ClientSubnet>,
) -> Option<ViewMatch<'a>> {
    if zone.views.is_empty() {
        return None;
    }
    if let Some(index) = index.find(source) {
        return Some(ViewMatch {
            view: &zone.views[index],
            index,
            scope: 0,
        });
    }
    if !index.trusted {
        return None;
    }
    let ecs = ecs.filter(|e| e.source_prefix > 0)?;
    zone.views.iter().enumerate().find_map(|(index, view)| {
        if !view.trusted_resolvers.iter().any(|n| n.contains(&source)) {
            return None;
        }
        let net = view.clients.iter().find(|n| n.contains(&ecs.address))?;
        Some(ViewMatch {
            view,
            index,
            scope: net.prefix_len(),
        })
    })
}

/// Every view's client networks as sorted address ranges (views never overlap: validation
/// refuses it), so finding a source's view is a binary search however many views there are.
#[derive(Debug, Default)]
pub struct ViewIndex {
    v4: Vec<(u32, u32, usize)>,
    v6: Vec<(u128, u128, usize)>,
    /// True when some view has trusted resolvers (only then can ECS select a view).
    pub trusted: bool,
}

impl ViewIndex {
    /// Indexes the views' client networks.
    pub fn new(views: &[View]) -> Self {
        Self::of(
            views
                .iter()
                .map(|v| (v.clients.as_slice(), !v.trusted_resolvers.is_empty())),
        )
    }

    /// Indexes views given as (client networks, has trusted resolvers), in order.
    fn of<'a>(views: impl IntoIterator<Item = (&'a [ipnet::IpNet], bool)>) -> Self {
        let mut index = Self::default();
        for (i, (clients, trusted)) in views.into_iter().enumerate() {
            index.trusted |= trusted;
            for net in clients {
                match net {
                    ipnet::IpNet::V4(n) => {
                        index.v4.push((n.network().into(), n.broadcast().into(), i))
                    }
                    ipnet::IpNet::V6(n) => {
                        index.v6.push((n.network().into(), n.broadcast().into(), i))
                    }
                }
            }
        }
        merge(&mut index.v4);
        merge(&mut index.v6);
        index
    }

    /// The view whose clients include `ip` (the first one listing it, as a linear scan would).
    pub fn find(&self, ip: IpAddr) -> Option<usize> {
        fn search<T: Ord + Copy>(ranges: &[(T, T, usize)], a: T) -> Option<usize> {
            let at = ranges.partition_point(|r| r.0 <= a).checked_sub(1)?;
            let (_, end, view) = ranges[at];
            (a <= end).then_some(view)
        }
        match ip {
            IpAddr::V4(a) => search(&self.v4, u32::from(a)),
            IpAddr::V6(a) => search(&self.v6, u128::from(a)),
        }
    }
}

/// Sorts ranges and folds those that overlap (one view listing nested networks; different
/// views never overlap), so each address falls in at most one range.
fn merge<T: Ord + Copy>(ranges: &mut Vec<(T, T, usize)>) {
    ranges.sort_unstable();
    let mut out: Vec<(T, T, usize)> = Vec::with_capacity(ranges.len());
    for r in ranges.drain(..) {
        match out.last_mut() {
            Some(last) if r.0 <= last.1 => last.1 = last.1.max(r.1),
            _ => out.push(r),
        }
    }
    *ranges = out;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_finds_what_a_scan_finds() {
        let nets = |v: &[&str]| {
            v.iter()
                .map(|n| n.parse().unwrap())
                .collect::<Vec<ipnet::IpNet>>()
        };
        let views = [
            ["10.0.0.0/8", "10.1.0.0/16", "192.0.2.7/32"].as_slice(),
            ["172.16.0.0/24", "2001:db8::/48"].as_slice(),
            ["172.16.1.0/24", "2001:db8:1::/56"].as_slice(),
        ];
        let owned: Vec<Vec<ipnet::IpNet>> = views.iter().map(|c| nets(c)).collect();
        let index = ViewIndex::of(owned.iter().map(|c| (c.as_slice(), false)));
        assert!(!index.trusted);
        for (ip, want) in [
            ("10.2.3.4", Some(0)),
            ("10.1.2.3", Some(0)),
            ("10.255.255.255", Some(0)),
            ("11.0.0.0", None),
            ("192.0.2.7", Some(0)),
            ("192.0.2.8", None),
            ("172.16.0.255", Some(1)),
            ("172.16.1.0", Some(2)),
            ("172.16.2.0", None),
            ("2001:db8::1", Some(1)),
            ("2001:db8:1::1", Some(2)),
            ("2001:db8:1:100::1", None),
            ("::1", None),
        ] {
            assert_eq!(index.find(ip.parse().unwrap()), want, "{ip}");
        }
    }
}
