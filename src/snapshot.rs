//! The build step: one validated [`Config`] turned into the runtime pieces a query reads (name
//! index, view indexes, GeoIP readers, signing keys, cookie secrets, counters), as one
//! immutable [`Snapshot`].
//!
//! `config` below is plain data; everything here is made from it and from nothing else, so a
//! reload builds a whole new snapshot beside the running one and swaps it in at once.

use crate::config::Config;
use crate::dns::cookie::{self, Secrets};
use crate::dns::names::NameIndex;
use crate::dnssec::Signing;
use crate::geo::Geo;
use crate::metrics::Counters;
use crate::view::ViewIndex;
use std::sync::Arc;

/// Everything derived from one configuration.
#[derive(Debug)]
pub struct Snapshot {
    /// The validated configuration.
    pub config: Config,
    /// Every name that exists.
    pub names: NameIndex,
    /// What each zone runs with, indexed like `config.zones`.
    pub zones: Vec<ZoneRuntime>,
    /// Location lookups.
    pub geo: Geo,
    /// The cookie secrets in force: the configured files', else this process's random one.
    pub cookies: Secrets,
    /// Increases by one on every successful load.
    pub generation: u64,
    /// Counters labelled by this configuration's names.
    pub counters: Counters,
}

/// The runtime pieces of one zone.
#[derive(Debug)]
pub struct ZoneRuntime {
    /// The views' client networks, for a lookup by binary search.
    pub views: ViewIndex,
    /// Online signing, when the zone has `dnssec:`.
    pub signing: Option<Arc<Signing>>,
}

impl Snapshot {
    /// Builds the runtime pieces from a configuration (opens the GeoIP databases, loads the
    /// signing keys).
    pub fn build(config: Config, generation: u64) -> Result<Self, String> {
        let geo = Geo::open(&config.geoip)?;
        let names = NameIndex::build(&config);
        let counters = Counters::new(&config);
        let zones = config
            .zones
            .iter()
            .map(|zone| {
                let signing = match &zone.dnssec {
                    Some(d) => {
                        let key = crate::dnssec::key::ZoneKey::from_pem(&d.key_pem)
                            .map_err(|e| format!("{}: {e}", d.key_file.display()))?;
                        Some(Arc::new(Signing::new(key, d.validity_s, &zone.name)))
                    }
                    None => None,
                };
                Ok(ZoneRuntime {
                    views: ViewIndex::new(&zone.views),
                    signing,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let cookies = config.server.cookie_secrets.unwrap_or(Secrets {
            current: cookie::process_secret(),
            previous: None,
        });
        Ok(Self {
            counters,
            config,
            names,
            zones,
            geo,
            cookies,
            generation,
        })
    }
}
