//! The structure a server publishes: the relations between nodes (bucket nodes and pages),
//! the pages with their member counts and immutability, and what changed since a [`Mark`].
//!
//! All of it follows from the bucket tree and the member count per bucket: a leaf with `n`
//! members has pages `1..=ceil(n / page_size)`, each full but the last, and a page is immutable
//! once a later page exists or the stream is closed. Nothing here is stored per page.

use super::tree::Step;
use super::{Changes, Fragmenter, Mark, Node, Page, Relation};
use crate::tile::{self, Tile};
use crate::timebucket;
use crate::view::Fragmentation;
use crate::vocab::{
    GEO_WKT_LITERAL, TREE_EQUAL, TREE_GEO_CONTAINS, TREE_GTE, TREE_LT, TREE_RELATION_CLASS,
    XSD_ANY_URI, XSD_DATE_TIME,
};

/// A node of the structure: page `page` of `bucket`, or (page 0) the bucket's own node. Sorts
/// by bucket, then page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct NodeAt {
    bucket: u32,
    page: u32,
}

impl NodeAt {
    fn own(bucket: u32) -> NodeAt {
        NodeAt { bucket, page: 0 }
    }
}

impl Fragmenter {
    /// All relations of the structure, parents before children, in bucket creation order.
    pub fn relations(&self) -> Vec<Relation> {
        self.relations_from(|_, _| true)
    }

    /// The relations whose parent node (bucket, page; `None` the bucket's own node) `from`
    /// accepts, in the order of [`Fragmenter::relations`].
    pub(super) fn relations_from(&self, from: impl Fn(u32, Option<u32>) -> bool) -> Vec<Relation> {
        let mut out = Vec::new();
        for (id, b) in self.buckets.iter().enumerate().skip(1) {
            if !from(b.parent, None) {
                continue;
            }
            let level = &self.view.fragmentations[b.level as usize];
            let rel = |kind, path: Option<&str>, value: Option<String>, datatype| Relation {
                parent: b.parent,
                parent_page: None,
                child: id as u32,
                child_page: None,
                kind,
                path: path.map(str::to_owned),
                value,
                datatype,
            };
            match (b.step, level) {
                (Step::Tile { x, y }, Fragmentation::Geospatial { max_zoom, path, .. }) => {
                    let t = Tile { x, y, z: *max_zoom };
                    out.push(rel(
                        TREE_GEO_CONTAINS,
                        Some(path),
                        Some(tile::tile_bbox_wkt(t)),
                        Some(GEO_WKT_LITERAL),
                    ));
                }
                (Step::Time { g, key }, Fragmentation::HierarchicalTime { path, .. }) => {
                    let zone = self.zones[b.level as usize]
                        .as_ref()
                        .expect("time levels have a zone");
                    let (start, end) = timebucket::key_bounds(key, g, zone);
                    out.push(rel(
                        TREE_GTE,
                        Some(path),
                        Some(timebucket::format_utc(start)),
                        Some(XSD_DATE_TIME),
                    ));
                    out.push(rel(
                        TREE_LT,
                        Some(path),
                        Some(timebucket::format_utc(end)),
                        Some(XSD_DATE_TIME),
                    ));
                }
                (Step::Ref { id: r }, Fragmentation::Reference { path, .. }) => {
                    out.push(rel(
                        TREE_EQUAL,
                        Some(path),
                        Some(self.references[r as usize].clone()),
                        Some(XSD_ANY_URI),
                    ));
                }
                _ => out.push(rel(TREE_RELATION_CLASS, None, None, None)),
            }
        }
        // The page chain of every leaf: bucket → page 1 → page 2 → …
        for (id, b) in self.leaf_buckets() {
            let last = self.last_page(b);
            for p in (0..last).filter(|&p| from(id, (p > 0).then_some(p))) {
                out.push(Relation {
                    parent: id,
                    parent_page: (p > 0).then_some(p),
                    child: id,
                    child_page: Some(p + 1),
                    kind: TREE_RELATION_CLASS,
                    path: None,
                    value: None,
                    datatype: None,
                });
            }
        }
        out
    }

    /// Buckets holding members, with their member counts.
    pub(super) fn leaf_buckets(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(i, &n)| (i as u32, n))
    }

    pub(super) fn last_page(&self, members: u64) -> u32 {
        members.div_ceil(self.view.page_size as u64) as u32
    }

    /// Every page of every leaf bucket with its member count and whether it is immutable: full
    /// and followed by a later page, or the stream is closed.
    pub fn pages(&self) -> Vec<Page> {
        let size = self.view.page_size as u64;
        let mut out = Vec::new();
        for (id, n) in self.leaf_buckets() {
            let last = self.last_page(n);
            for p in 1..=last {
                let members = if p < last {
                    size
                } else {
                    n - (last as u64 - 1) * size
                };
                out.push(Page {
                    bucket: id,
                    page: p,
                    members,
                    immutable: p < last || self.closed,
                });
            }
        }
        out
    }

    /// Where this fragmenter stands, for a later [`Fragmenter::changes_since`].
    pub fn mark(&self) -> Mark {
        Mark {
            buckets: self.buckets.len(),
            counts: self.counts.clone(),
            closed: self.closed,
        }
    }

    /// The nodes whose rendering changed since `mark` (new nodes; pages with new members or
    /// newly immutable; nodes with a new relation), sorted by (bucket, page), and every
    /// relation from them: what a server renders again after a call, in O(buckets) instead of
    /// a diff of two snapshots of [`Fragmenter::relations`] and [`Fragmenter::pages`].
    pub fn changes_since(&self, mark: &Mark) -> Changes {
        let size = self.view.page_size as u64;
        let mut changed: Vec<NodeAt> = Vec::new();
        for (id, b) in self.buckets.iter().enumerate().skip(mark.buckets) {
            changed.push(NodeAt::own(id as u32));
            if id > 0 {
                changed.push(NodeAt::own(b.parent)); // it links to the new bucket
            }
        }
        for (id, &n) in self.counts.iter().enumerate() {
            let old = mark.counts.get(id).copied().unwrap_or(0);
            if n == old && !(self.closed && !mark.closed && n > 0) {
                continue;
            }
            if old == 0 {
                changed.push(NodeAt::own(id as u32)); // it links to its first page
            }
            // The old last page gained members, or a successor (so it is immutable now),
            // or the stream was closed; and every page after it is new.
            let old_last = old.div_ceil(size).max(1);
            changed.extend((old_last..=n.div_ceil(size)).map(|p| NodeAt {
                bucket: id as u32,
                page: p as u32,
            }));
        }
        changed.sort_unstable();
        changed.dedup();
        let wanted: rustc_hash::FxHashSet<NodeAt> = changed.iter().copied().collect();
        let relations = self.relations_from(|bucket, page| {
            wanted.contains(&NodeAt {
                bucket,
                page: page.unwrap_or(0),
            })
        });
        let nodes = changed
            .into_iter()
            .map(|NodeAt { bucket, page }| {
                let n = self.counts[bucket as usize];
                let last = self.last_page(n);
                let members = match page {
                    0 => 0,
                    p if p < last => size,
                    _ => n - (last as u64 - 1) * size,
                };
                Node {
                    bucket,
                    page: (page > 0).then_some(page),
                    members,
                    immutable: page > 0 && (page < last || self.closed),
                }
            })
            .collect();
        Changes { nodes, relations }
    }
}
