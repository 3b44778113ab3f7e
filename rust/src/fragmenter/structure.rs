//! The structure a server publishes: the relations between nodes (bucket nodes and pages),
//! the pages with their member counts and immutability, and what changed since the last
//! [`Fragmenter::changes`].
//!
//! All of it follows from the bucket tree and the member count per bucket: a leaf with `n`
//! members has pages `1..=ceil(n / page_size)`, each full but the last, and a page is immutable
//! once a later page exists or the stream is closed. Nothing here is stored per page.

use super::since::Since;
use super::tree::Step;
use super::{ChangedRelations, Changes, Fragmenter, Node, Page, Relation};
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
            if from(b.parent, None) {
                self.bucket_relations(id as u32, &mut out);
            }
        }
        // The page chain of every leaf: bucket → its first page → the next → …
        for (id, n) in self.leaf_buckets() {
            let (first, last) = (self.first_page(id), self.last_page(n));
            if first <= last && from(id, None) {
                out.push(Relation::to_page(id, None, first));
            }
            for p in (first..last).filter(|&p| from(id, Some(p))) {
                out.push(Relation::to_page(id, Some(p), p + 1));
            }
        }
        out
    }

    /// The relations from bucket `id`'s parent to it.
    fn bucket_relations(&self, id: u32, out: &mut Vec<Relation>) {
        let b = self.buckets[id as usize];
        let level = &self.view.fragmentations[b.level as usize];
        let rel = |kind, path: Option<&str>, value: Option<String>, datatype| Relation {
            parent: b.parent,
            parent_page: None,
            child: id,
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

    /// Page `page` of leaf `bucket` (dropped or not) with its member count and immutability.
    pub fn page(&self, bucket: u32, page: u32) -> Page {
        let (size, n) = (self.view.page_size as u64, self.counts[bucket as usize]);
        let last = self.last_page(n);
        Page {
            bucket,
            page,
            members: if page < last {
                size
            } else {
                n - (last as u64 - 1) * size
            },
            immutable: page < last || self.closed,
        }
    }

    /// Every page of every leaf bucket (but those dropped by retention) with its member count
    /// and whether it is immutable: full and followed by a later page, or the stream is closed.
    pub fn pages(&self) -> Vec<Page> {
        let mut out = Vec::new();
        for (id, n) in self.leaf_buckets() {
            out.extend((self.first_page(id)..=self.last_page(n)).map(|p| self.page(id, p)));
        }
        out
    }

    /// The nodes whose rendering changed since the last call (new nodes; pages with new
    /// members or newly immutable; nodes with a new relation), sorted by (bucket, page), with
    /// the relations `which` asks for; the next call starts here. A new fragmenter's first
    /// call includes its root; a restored one's starts where it was saved. The nodes cost
    /// O(change) (a close: O(leaves)); the relations O(change) for
    /// [`ChangedRelations::New`], O(buckets) for [`ChangedRelations::FromChanged`].
    pub fn changes(&mut self, which: ChangedRelations) -> Changes {
        let out = self.changes_since(&self.since_changes, which);
        let (b, r, c) = (self.buckets.len(), self.references.len(), self.closed);
        self.since_changes.move_to(b, r, c);
        out
    }

    fn changes_since(&self, s: &Since, which: ChangedRelations) -> Changes {
        let size = self.view.page_size as u64;
        let mut changed: Vec<NodeAt> = Vec::new();
        // Buckets with new members or dropped pages, with their members and first page before.
        let mut grown: Vec<(u32, u64, u32)> = s.touched.clone();
        for (id, b) in self.buckets.iter().enumerate().skip(s.buckets) {
            changed.push(NodeAt::own(id as u32));
            if id > 0 {
                changed.push(NodeAt::own(b.parent)); // it links to the new bucket
            }
            if self.counts[id] > 0 {
                grown.push((id as u32, 0, 1));
            }
        }
        grown.sort_unstable();
        for &(id, old, old_first) in &grown {
            let (n, first) = (self.counts[id as usize], self.first_page(id));
            if old == 0 || first != old_first {
                changed.push(NodeAt::own(id)); // it links to another first page
            }
            if n > old {
                // The old last page gained members or a successor (so it is immutable now),
                // and every page after it is new.
                let old_last = old.div_ceil(size).max(1) as u32;
                changed.extend((old_last.max(first)..=self.last_page(n)).map(|p| NodeAt {
                    bucket: id,
                    page: p,
                }));
            }
        }
        if self.closed && !s.closed {
            // Every last page is immutable now.
            changed.extend(
                (self.leaf_buckets())
                    .map(|(id, n)| NodeAt {
                        bucket: id,
                        page: self.last_page(n),
                    })
                    .filter(|at| at.page >= self.first_page(at.bucket)),
            );
        }
        changed.sort_unstable();
        changed.dedup();
        let relations = match which {
            ChangedRelations::FromChanged => {
                let wanted: rustc_hash::FxHashSet<NodeAt> = changed.iter().copied().collect();
                self.relations_from(|bucket, page| {
                    wanted.contains(&NodeAt {
                        bucket,
                        page: page.unwrap_or(0),
                    })
                })
            }
            ChangedRelations::New => {
                let mut out = Vec::new();
                for id in s.buckets.max(1)..self.buckets.len() {
                    self.bucket_relations(id as u32, &mut out);
                }
                for &(id, old, old_first) in &grown {
                    let (first, last) = (
                        self.first_page(id),
                        self.last_page(self.counts[id as usize]),
                    );
                    let old_last = self.last_page(old);
                    if (old_last == 0 || first != old_first) && first <= last {
                        out.push(Relation::to_page(id, None, first));
                    }
                    for p in old_last.max(first)..last {
                        out.push(Relation::to_page(id, Some(p), p + 1));
                    }
                }
                out
            }
        };
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

impl Relation {
    /// The relation from page `from` of bucket `bucket` (`None`: the bucket's own node) to its
    /// page `to`.
    fn to_page(bucket: u32, from: Option<u32>, to: u32) -> Relation {
        Relation {
            parent: bucket,
            parent_page: from,
            child: bucket,
            child_page: Some(to),
            kind: TREE_RELATION_CLASS,
            path: None,
            value: None,
            datatype: None,
        }
    }
}
