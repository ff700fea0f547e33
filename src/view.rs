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
    source: IpAddr,
    ecs: Option<&ClientSubnet>,
) -> Option<ViewMatch<'a>> {
    if zone.views.is_empty() {
        return None;
    }
    if let Some((index, view)) = zone
        .views
        .iter()
        .enumerate()
        .find(|(_, v)| v.clients.iter().any(|n| n.contains(&source)))
    {
        return Some(ViewMatch {
            view,
            index,
            scope: 0,
        });
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
