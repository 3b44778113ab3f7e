//! Retention: dropping pages from the front of a bucket's chain (docs/semantics.md,
//! "Retention").
//!
//! A page is dropped whole and only when it is immutable (a later page of its bucket exists,
//! or the stream is closed), so no page a client may have cached ever changes: a dropped page
//! is gone (a server answers 410), the bucket's own node links to its first remaining page,
//! and the pages after it keep their numbers and links. Which pages have expired is the
//! caller's to say (it has the members' timestamps and versions); the fragmenter keeps, per
//! bucket, the first page that remains, saved with the state and in journal entries.

use super::{Error, Fragmenter};

impl Fragmenter {
    /// The first page of `bucket` that was not dropped (1 when none was).
    pub fn first_page(&self, bucket: u32) -> u32 {
        self.first_pages.get(&bucket).copied().unwrap_or(1)
    }

    /// Whether `first` can be the first remaining page of `bucket`: a leaf with members, at least
    /// one page dropped, and every dropped page immutable.
    pub(super) fn check_first_page(&self, bucket: u32, first: u32) -> Result<(), String> {
        let b = self.buckets.get(bucket as usize);
        let count = self.counts.get(bucket as usize).copied().unwrap_or(0);
        let last = self.last_page(count);
        let leaf = b.is_some_and(|b| self.is_leaf(b));
        if !leaf || count == 0 || first < 2 || first > last + 1 || (first > last && !self.closed) {
            return Err(format!(
                "bucket {bucket}: first page {first} of {last} (only immutable pages are dropped)"
            ));
        }
        Ok(())
    }

    /// The bucket with id `id`, if there is one.
    pub fn bucket_of(&mut self, id: &str) -> Option<u32> {
        // Indexed on first use, then kept up to date with the buckets made since.
        for b in self.by_id_upto..self.buckets.len() {
            let key: Box<str> = self.descriptor(b as u32).into();
            self.by_id.insert(key, b as u32);
        }
        self.by_id_upto = self.buckets.len();
        self.by_id.get(id).copied()
    }

    /// Drops, for each `(bucket, page)`, the pages of `bucket` up to and including `page`, all
    /// or nothing: every page must be immutable (not its bucket's last page, unless the stream
    /// is closed). Pages dropped before are skipped. Returns the pages dropped now, by bucket
    /// and page.
    pub fn drop_pages(&mut self, through: &[(u32, u32)]) -> Result<Vec<(u32, u32)>, Error> {
        let mut to: Vec<(u32, u32)> = Vec::with_capacity(through.len());
        for &(bucket, page) in through {
            let Some(&count) = self.counts.get(bucket as usize) else {
                return Err(Error::Retention(format!("no bucket {bucket}")));
            };
            let last = self.last_page(count);
            if count == 0 || page > last || (page == last && !self.closed) {
                return Err(Error::Retention(format!(
                    "page {page} of {:?} is not an immutable page (the bucket has {last} \
                     pages; its last stays until the stream is closed)",
                    self.descriptor(bucket)
                )));
            }
            to.push((bucket, page));
        }
        to.sort_unstable();
        let mut dropped = Vec::new();
        for (i, &(bucket, page)) in to.iter().enumerate() {
            // Of one bucket's pages, the last (highest) wins.
            if to.get(i + 1).is_some_and(|&(b, _)| b == bucket) {
                continue;
            }
            let first = self.first_page(bucket);
            if page < first {
                continue;
            }
            self.since_changes
                .touch(bucket, self.counts[bucket as usize], first);
            self.since_commit
                .touch(bucket, self.counts[bucket as usize], first);
            dropped.extend((first..=page).map(|p| (bucket, p)));
            self.first_pages.insert(bucket, page + 1);
        }
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests {
    use crate::fragmenter::tests::{members, view, GEO_DAY};
    use crate::fragmenter::{Error, Fragmenter, OnInvalid};

    const GEO: &str = r#"{"fragmentations":[{"type":"Geospatial","max_zoom":12}],"page_size":3}"#;

    /// A fragmenter whose first bucket has several pages.
    fn fragmenter() -> (Fragmenter, u32) {
        let mut f = Fragmenter::new(view(GEO)).expect("fragmenter");
        let (a, _) = f
            .assign(&[members(200)], OnInvalid::Unknown)
            .expect("assign");
        let leaf = a.buckets[0];
        let pages = f.pages().iter().filter(|p| p.bucket == leaf).count();
        assert!(pages >= 3, "{pages}");
        (f, leaf)
    }

    #[test]
    fn dropped_pages_leave_the_chain_and_the_bucket_links_the_first_left() {
        let (mut f, leaf) = fragmenter();
        let last = f.pages().iter().filter(|p| p.bucket == leaf).count() as u32;
        let before: Vec<_> = f
            .relations()
            .into_iter()
            .filter(|r| r.child_page > Some(2))
            .collect();
        assert_eq!(
            f.drop_pages(&[(leaf, 2)]).expect("drop"),
            [(leaf, 1), (leaf, 2)]
        );
        assert_eq!(f.first_page(leaf), 3);
        let pages: Vec<u32> = (f.pages().iter())
            .filter(|p| p.bucket == leaf)
            .map(|p| p.page)
            .collect();
        assert_eq!(pages, (3..=last).collect::<Vec<_>>());
        let chain: Vec<_> = (f.relations().into_iter())
            .filter(|r| r.parent == leaf && r.child == leaf)
            .map(|r| (r.parent_page, r.child_page))
            .collect();
        let mut expected = vec![(None, Some(3))];
        expected.extend((3..last).map(|p| (Some(p), Some(p + 1))));
        assert_eq!(chain, expected);
        // The relations between the pages left are the ones before.
        let after: Vec<_> = f
            .relations()
            .into_iter()
            .filter(|r| r.child_page > Some(3))
            .collect();
        assert_eq!(
            after,
            (before.into_iter())
                .filter(|r| r.child_page > Some(3))
                .collect::<Vec<_>>()
        );
        // Again, or below the first page: nothing more.
        assert!(f
            .drop_pages(&[(leaf, 2), (leaf, 1)])
            .expect("drop")
            .is_empty());
    }

    #[test]
    fn mutable_pages_are_never_dropped_and_a_refused_call_changes_nothing() {
        let (mut f, leaf) = fragmenter();
        let last = f.pages().iter().filter(|p| p.bucket == leaf).count() as u32;
        let state = f.state();
        for bad in [
            vec![(leaf, 1), (leaf, last)],
            vec![(leaf, last + 1)],
            vec![(u32::MAX, 1)],
        ] {
            assert!(
                matches!(f.drop_pages(&bad), Err(Error::Retention(_))),
                "{bad:?}"
            );
            assert_eq!(f.state(), state);
        }
        // Closed, every page is immutable: the whole chain can go.
        f.close();
        let dropped = f.drop_pages(&[(leaf, last)]).expect("drop");
        assert_eq!(dropped.len() as u32, last);
        assert!(f.pages().iter().all(|p| p.bucket != leaf));
        assert!(f.relations().iter().all(|r| r.parent != leaf));
        let g = Fragmenter::from_state(view(GEO), &f.state()).expect("restore");
        assert_eq!(g.state(), f.state());
        assert_eq!(g.first_page(leaf), last + 1);
    }

    #[test]
    fn bucket_ids_are_found_also_for_buckets_made_later() {
        let mut f = Fragmenter::new(view(GEO_DAY)).expect("fragmenter");
        let (a, _) = f
            .assign(&[members(20)], OnInvalid::Unknown)
            .expect("assign");
        let leaf = a.buckets[0];
        let id = f.descriptor(leaf).to_owned();
        assert_eq!(f.bucket_of(&id), Some(leaf));
        assert_eq!(f.bucket_of("tile=1/0/0"), None);
        let (a, _) = f
            .assign(&[members(2000)], OnInvalid::Unknown)
            .expect("assign");
        let newest = *a.buckets.iter().max().expect("rows");
        let id = f.descriptor(newest).to_owned();
        assert_eq!(f.bucket_of(&id), Some(newest));
    }
}
