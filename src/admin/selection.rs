//! Which registries an admin request shows: those its `?registry=` names, else the first few
//! (a zone of a million registries is never listed whole).

/// The registries a request shows, as (zone, registry) indexes in configuration order.
#[derive(Debug, Default)]
pub struct Selection {
    /// The ones shown.
    pub shown: Vec<(usize, usize)>,
    /// How many there are in all.
    pub total: usize,
    /// The request named them (`?registry=`).
    pub named: bool,
}

impl Selection {
    /// The registries named by `?registry=` (a registry's name or its global name; the
    /// parameter may repeat), else the first `max` of the configuration.
    pub fn of(config: &crate::config::Config, query: Option<&str>, max: usize) -> Self {
        let total = config.zones.iter().map(|z| z.registries.len()).sum();
        let wanted: Vec<&str> = query
            .unwrap_or("")
            .split('&')
            .filter_map(|kv| kv.strip_prefix("registry="))
            .collect();
        if wanted.is_empty() {
            let shown = config
                .zones
                .iter()
                .enumerate()
                .flat_map(|(z, zone)| (0..zone.registries.len()).map(move |r| (z, r)))
                .take(max)
                .collect();
            return Self {
                shown,
                total,
                named: false,
            };
        }
        let mut shown = Vec::new();
        for w in wanted {
            let w = w.trim_end_matches('.').to_ascii_lowercase();
            for (z, zone) in config.zones.iter().enumerate() {
                let name = w
                    .strip_suffix(zone.name.as_str())
                    .and_then(|n| n.strip_suffix('.'))
                    .unwrap_or(&w);
                if let Some((r, _)) = zone.registry(name)
                    && !shown.contains(&(z, r))
                {
                    shown.push((z, r));
                }
            }
        }
        Self {
            shown,
            total,
            named: true,
        }
    }
}
