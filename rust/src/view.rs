//! A view: the ordered list of fragmentations, then pagination (docs/semantics.md, "Views").

use serde::{Deserialize, Serialize};

use crate::timebucket::{Granularity, Zone};

use crate::vocab::{GEO_AS_WKT, PROV_GENERATED_AT_TIME, RDF_TYPE};

/// One level of the fragmentation list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub(crate) enum Fragmentation {
    Geospatial {
        max_zoom: u8,
        #[serde(default = "default_geo_path")]
        path: String,
        #[serde(default = "default_geometry")]
        column: String,
    },
    HierarchicalTime {
        max_granularity: Granularity,
        #[serde(default = "default_time_path")]
        path: String,
        #[serde(default = "default_timestamp")]
        column: String,
        #[serde(default = "default_timezone")]
        timezone: String,
    },
    Reference {
        #[serde(default = "default_ref_path")]
        path: String,
        #[serde(default = "default_ref_key")]
        key: String,
        #[serde(default = "default_reference")]
        column: String,
    },
}

fn default_geo_path() -> String {
    GEO_AS_WKT.into()
}
fn default_geometry() -> String {
    "geometry".into()
}
fn default_time_path() -> String {
    PROV_GENERATED_AT_TIME.into()
}
fn default_timestamp() -> String {
    "timestamp".into()
}
fn default_timezone() -> String {
    "UTC".into()
}
fn default_ref_path() -> String {
    RDF_TYPE.into()
}
fn default_ref_key() -> String {
    "reference".into()
}
fn default_reference() -> String {
    "reference".into()
}
fn default_page_size() -> u32 {
    250
}

/// Order of members within a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Order {
    /// Input order (the reference server's ingest order).
    #[default]
    Arrival,
    /// Each call's members sorted by `(timestamp, id)` before they are paginated.
    Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct View {
    pub(crate) fragmentations: Vec<Fragmentation>,
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    #[serde(default)]
    pub(crate) order: Order,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid view: {0}")]
pub struct ViewError(pub String);

/// Keys a reference fragmentation may not use: they belong to the other levels and pages.
const RESERVED_KEYS: [&str; 8] = [
    "tile",
    "year",
    "month",
    "day",
    "hour",
    "minute",
    "second",
    "pageNumber",
];

impl View {
    pub fn from_json(json: &str) -> Result<View, ViewError> {
        let view: View = serde_json::from_str(json).map_err(|e| ViewError(e.to_string()))?;
        view.validate()?;
        Ok(view)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a view always serialises")
    }

    /// The bucket keys in order; they must be distinct (the reference server's rule).
    pub(crate) fn validate(&self) -> Result<(), ViewError> {
        if self.page_size == 0 {
            return Err(ViewError("page_size must be at least 1".into()));
        }
        let mut keys: Vec<&str> = Vec::new();
        for f in &self.fragmentations {
            match f {
                Fragmentation::Geospatial { max_zoom, .. } => {
                    // Zoom 0 is excluded: its one tile would be the hub `tile=0/0/0` itself.
                    if !(1..=crate::tile::MAX_ZOOM).contains(max_zoom) {
                        return Err(ViewError(format!("max_zoom {max_zoom} is outside 1..=30")));
                    }
                    keys.push("tile");
                }
                Fragmentation::HierarchicalTime { timezone, .. } => {
                    Zone::parse(timezone).map_err(|e| ViewError(e.to_string()))?;
                    // Every time level starts at `year`, so one key stands for the set.
                    keys.push("year");
                }
                Fragmentation::Reference { key, .. } => {
                    if key.is_empty()
                        || RESERVED_KEYS.contains(&key.as_str())
                        || !key
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b))
                    {
                        return Err(ViewError(format!(
                            "reference key {key:?} must be a non-empty run of [A-Za-z0-9-_.~] and not one of {RESERVED_KEYS:?}"
                        )));
                    }
                    keys.push(key);
                }
            }
        }
        for (i, k) in keys.iter().enumerate() {
            if keys[..i].contains(k) {
                return Err(ViewError(format!(
                    "bucket key {k:?} is used by two fragmentations"
                )));
            }
        }
        Ok(())
    }

    /// The column that orders members in `Order::Timestamp`: the first time level's column.
    pub(crate) fn timestamp_column(&self) -> &str {
        self.fragmentations
            .iter()
            .find_map(|f| match f {
                Fragmentation::HierarchicalTime { column, .. } => Some(column.as_str()),
                _ => None,
            })
            .unwrap_or("timestamp")
    }
}

impl Granularity {
    /// Granularities from `Year` down to `self`.
    pub(crate) fn levels(self) -> impl Iterator<Item = Granularity> {
        Granularity::ALL.into_iter().take_while(move |g| *g <= self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_round_trip() {
        let v = View::from_json(
            r#"{"fragmentations":[{"type":"Geospatial","max_zoom":15},{"type":"HierarchicalTime","max_granularity":"day"}]}"#,
        )
        .expect("valid");
        assert_eq!(v.page_size, 250);
        assert_eq!(v.order, Order::Arrival);
        assert_eq!(View::from_json(&v.to_json()).expect("round trip"), v);
        assert_eq!(v.timestamp_column(), "timestamp");
    }

    #[test]
    fn rejects_bad_views() {
        for bad in [
            r#"{"fragmentations":[],"page_size":0}"#,
            r#"{"fragmentations":[{"type":"Geospatial","max_zoom":31}]}"#,
            r#"{"fragmentations":[{"type":"Geospatial","max_zoom":3},{"type":"Geospatial","max_zoom":4}]}"#,
            r#"{"fragmentations":[{"type":"HierarchicalTime","max_granularity":"week"}]}"#,
            r#"{"fragmentations":[{"type":"HierarchicalTime","max_granularity":"day","timezone":"Mars/Olympus"}]}"#,
            r#"{"fragmentations":[{"type":"Reference","key":"year"}]}"#,
            r#"{"fragmentations":[{"type":"Reference","key":"a&b"}]}"#,
            r#"{"fragmentations":[{"type":"Nope"}]}"#,
            r#"{"fragmentations":[], "extra": 1}"#,
        ] {
            assert!(View::from_json(bad).is_err(), "{bad}");
        }
    }
}
