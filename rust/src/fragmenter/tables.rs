//! The structure as Arrow tables (what `pages()`, `relations()` and `changes()` return to
//! Python), in record batches whose string columns each stay under a byte limit.
//!
//! Arrow `Utf8` offsets are `i32`: one array holds less than 2 GiB of strings. A structure with
//! a million pages of long reference ids passes that in its bucket column, so the rows are cut
//! into several batches, each under the limit (the columns stay `string`, not `large_string`).
//! The limit is a parameter so that tests can cut at a few bytes; bindings pass
//! [`MAX_BATCH_BYTES`].

use std::ops::Range;
use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, StringBuilder, UInt32Builder, UInt64Builder};
use arrow_array::{
    Array, ArrayRef, BooleanArray, RecordBatch, StringArray, UInt32Array, UInt64Array,
};
use arrow_buffer::ScalarBuffer;
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};

use super::{Assignments, Fragmenter, Invalid, Node, Page, Relation};

/// The most string bytes in one column of one batch: the reach of `i32` offsets.
pub const MAX_BATCH_BYTES: usize = i32::MAX as usize;

/// A table: its schema and its batches (at least one, possibly empty).
#[derive(Debug, Clone)]
pub struct Table {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

/// Why a table cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("a row holds {0} bytes of strings, more than one Arrow string array can")]
    RowTooLarge(usize),
    #[error(transparent)]
    Arrow(#[from] ArrowError),
}

/// Consecutive row ranges covering `0..n` whose string bytes (`row_bytes` each) sum to at most
/// `max_bytes` per range; a larger row gets a range of its own, if it fits in an array at all.
fn row_ranges(
    n: usize,
    max_bytes: usize,
    row_bytes: impl Fn(usize) -> usize,
) -> Result<Vec<Range<usize>>, TableError> {
    let max_bytes = max_bytes.clamp(1, MAX_BATCH_BYTES);
    let mut ranges = Vec::new();
    let (mut start, mut bytes) = (0, 0usize);
    for i in 0..n {
        let b = row_bytes(i);
        if b > MAX_BATCH_BYTES {
            return Err(TableError::RowTooLarge(b));
        }
        if bytes + b > max_bytes && i > start {
            ranges.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += b;
    }
    ranges.push(start..n);
    Ok(ranges)
}

/// The batches of `n` rows cut by [`row_ranges`], each built by `build` from its range.
fn batches(
    schema: &SchemaRef,
    n: usize,
    max_bytes: usize,
    row_bytes: impl Fn(usize) -> usize,
    build: impl Fn(Range<usize>) -> Vec<ArrayRef>,
) -> Result<Table, TableError> {
    let batches = row_ranges(n, max_bytes, row_bytes)?
        .into_iter()
        .map(|r| RecordBatch::try_new(schema.clone(), build(r)))
        .collect::<Result<_, _>>()?;
    Ok(Table {
        schema: schema.clone(),
        batches,
    })
}

fn strings<'a>(range: Range<usize>, value: impl Fn(usize) -> Option<&'a str>) -> ArrayRef {
    let bytes = range.clone().map(|i| value(i).map_or(0, str::len)).sum();
    let mut b = StringBuilder::with_capacity(range.len(), bytes);
    for i in range {
        b.append_option(value(i));
    }
    Arc::new(b.finish())
}

fn u32s(range: Range<usize>, value: impl Fn(usize) -> Option<u32>) -> ArrayRef {
    let mut b = UInt32Builder::with_capacity(range.len());
    range.for_each(|i| b.append_option(value(i)));
    Arc::new(b.finish())
}

fn u64s(range: Range<usize>, value: impl Fn(usize) -> u64) -> ArrayRef {
    let mut b = UInt64Builder::with_capacity(range.len());
    range.for_each(|i| b.append_value(value(i)));
    Arc::new(b.finish())
}

fn bools(range: Range<usize>, value: impl Fn(usize) -> bool) -> ArrayRef {
    let mut b = BooleanBuilder::with_capacity(range.len());
    range.for_each(|i| b.append_value(value(i)));
    Arc::new(b.finish())
}

fn schema(fields: Vec<Field>) -> SchemaRef {
    Arc::new(Schema::new(fields))
}

impl Fragmenter {
    /// [`Fragmenter::pages`] as `{bucket, page, members, immutable}`.
    pub fn pages_table(&self, pages: &[Page], max_bytes: usize) -> Result<Table, TableError> {
        let schema = schema(vec![
            Field::new("bucket", DataType::Utf8, false),
            Field::new("page", DataType::UInt32, false),
            Field::new("members", DataType::UInt64, false),
            Field::new("immutable", DataType::Boolean, false),
        ]);
        let bucket = |i: usize| self.descriptor(pages[i].bucket);
        batches(
            &schema,
            pages.len(),
            max_bytes,
            |i| bucket(i).len(),
            |r| {
                vec![
                    strings(r.clone(), |i| Some(bucket(i))),
                    u32s(r.clone(), |i| Some(pages[i].page)),
                    u64s(r.clone(), |i| pages[i].members),
                    bools(r, |i| pages[i].immutable),
                ]
            },
        )
    }

    /// The nodes of [`Fragmenter::changes_since`] as `{bucket, page, members, immutable}`, a
    /// null page for a bucket's own node.
    pub fn nodes_table(&self, nodes: &[Node], max_bytes: usize) -> Result<Table, TableError> {
        let schema = schema(vec![
            Field::new("bucket", DataType::Utf8, false),
            Field::new("page", DataType::UInt32, true),
            Field::new("members", DataType::UInt64, false),
            Field::new("immutable", DataType::Boolean, false),
        ]);
        let bucket = |i: usize| self.descriptor(nodes[i].bucket);
        batches(
            &schema,
            nodes.len(),
            max_bytes,
            |i| bucket(i).len(),
            |r| {
                vec![
                    strings(r.clone(), |i| Some(bucket(i))),
                    u32s(r.clone(), |i| nodes[i].page),
                    u64s(r.clone(), |i| nodes[i].members),
                    bools(r, |i| nodes[i].immutable),
                ]
            },
        )
    }

    /// Relations as `{parent, parent_page, child, child_page, type, path, value, datatype}`.
    pub fn relations_table(
        &self,
        rels: &[Relation],
        max_bytes: usize,
    ) -> Result<Table, TableError> {
        let schema = schema(vec![
            Field::new("parent", DataType::Utf8, false),
            Field::new("parent_page", DataType::UInt32, true),
            Field::new("child", DataType::Utf8, false),
            Field::new("child_page", DataType::UInt32, true),
            Field::new("type", DataType::Utf8, false),
            Field::new("path", DataType::Utf8, true),
            Field::new("value", DataType::Utf8, true),
            Field::new("datatype", DataType::Utf8, true),
        ]);
        let parent = |i: usize| self.descriptor(rels[i].parent);
        let child = |i: usize| self.descriptor(rels[i].child);
        let len = |s: Option<&str>| s.map_or(0, str::len);
        let row_bytes = |i: usize| {
            let r = &rels[i];
            parent(i).len()
                + child(i).len()
                + r.kind.len()
                + len(r.path.as_deref())
                + len(r.value.as_deref())
                + len(r.datatype)
        };
        batches(&schema, rels.len(), max_bytes, row_bytes, |r| {
            vec![
                strings(r.clone(), |i| Some(parent(i))),
                u32s(r.clone(), |i| rels[i].parent_page),
                strings(r.clone(), |i| Some(child(i))),
                u32s(r.clone(), |i| rels[i].child_page),
                strings(r.clone(), |i| Some(rels[i].kind)),
                strings(r.clone(), |i| rels[i].path.as_deref()),
                strings(r.clone(), |i| rels[i].value.as_deref()),
                strings(r, |i| rels[i].datatype),
            ]
        })
    }
}

/// Rows per record batch of an assignment: each batch's bucket ids are copied by one task, and
/// its buffers stay small enough for the allocator to reuse from one call to the next.
pub const ASSIGNMENT_BATCH_ROWS: usize = 1 << 16;

impl Fragmenter {
    /// A call's assignments as `{row: uint64, bucket: string, page: uint32}`, in batches of
    /// at most `max_rows` rows.
    pub fn assignment_table(
        &self,
        assigned: Assignments,
        max_rows: usize,
    ) -> Result<Table, TableError> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("row", DataType::UInt64, false),
            Field::new("bucket", DataType::Utf8, false),
            Field::new("page", DataType::UInt32, false),
        ]));
        let rows = ScalarBuffer::from(assigned.rows);
        let pages = ScalarBuffer::from(assigned.pages);
        let mut start = 0;
        let batches = (self.bucket_columns(&assigned.buckets, max_rows).into_iter())
            .map(|buckets| {
                let n = buckets.len();
                let columns: Vec<ArrayRef> = vec![
                    Arc::new(UInt64Array::new(rows.slice(start, n), None)),
                    Arc::new(buckets),
                    Arc::new(UInt32Array::new(pages.slice(start, n), None)),
                ];
                start += n;
                RecordBatch::try_new(schema.clone(), columns)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Table { schema, batches })
    }
}

/// A call's invalid members: `{row, column, reason, rejected}` (`rejected` false: sent to an
/// unknown bucket).
pub fn invalid_table(invalid: &[Invalid]) -> Result<Table, TableError> {
    one_batch(
        vec![
            Field::new("row", DataType::UInt64, false),
            Field::new("column", DataType::Utf8, false),
            Field::new("reason", DataType::Utf8, false),
            Field::new("rejected", DataType::Boolean, false),
        ],
        vec![
            Arc::new(UInt64Array::from_iter_values(invalid.iter().map(|i| i.row))),
            Arc::new(StringArray::from_iter_values(
                invalid.iter().map(|i| &i.column),
            )),
            Arc::new(StringArray::from_iter_values(
                invalid.iter().map(|i| &i.reason),
            )),
            Arc::new(BooleanArray::from_iter(
                invalid.iter().map(|i| Some(i.rejected)),
            )),
        ],
    )
}

/// A call's members left out: `{row, reason}`, the reason prefixed with its column.
pub fn rejected_table(invalid: &[Invalid]) -> Result<Table, TableError> {
    let rejected: Vec<&Invalid> = invalid.iter().filter(|i| i.rejected).collect();
    one_batch(
        vec![
            Field::new("row", DataType::UInt64, false),
            Field::new("reason", DataType::Utf8, false),
        ],
        vec![
            Arc::new(UInt64Array::from_iter_values(
                rejected.iter().map(|i| i.row),
            )),
            Arc::new(StringArray::from_iter_values(
                rejected
                    .iter()
                    .map(|i| format!("{}: {}", i.column, i.reason)),
            )),
        ],
    )
}

fn one_batch(fields: Vec<Field>, columns: Vec<ArrayRef>) -> Result<Table, TableError> {
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    Ok(Table {
        schema,
        batches: vec![batch],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fragmenter::tests::{random_members, view};
    use crate::fragmenter::OnInvalid;
    use crate::testing::Rng;
    use arrow_array::{Array, StringArray};

    fn column(t: &Table, name: &str) -> Vec<Option<String>> {
        let i = t.schema.index_of(name).expect("column");
        (t.batches.iter())
            .flat_map(|b| {
                let a = b.column(i).as_any().downcast_ref::<StringArray>();
                let a = a.expect("a string column");
                (0..a.len())
                    .map(|j| a.is_valid(j).then(|| a.value(j).to_owned()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn string_bytes(b: &RecordBatch) -> usize {
        (b.columns().iter())
            .filter_map(|c| c.as_any().downcast_ref::<StringArray>())
            .map(|a| a.value_data().len())
            .sum()
    }

    #[test]
    fn tables_are_cut_under_the_byte_limit_and_lose_no_row() {
        let json = r#"{"fragmentations":[{"type":"Reference"},{"type":"HierarchicalTime","max_granularity":"day"}],"page_size":2}"#;
        let mut f = Fragmenter::new(view(json)).expect("fragmenter");
        f.assign(&[random_members(&mut Rng(3), 300)], OnInvalid::Unknown)
            .expect("assign");
        let (pages, rels) = (f.pages(), f.relations());
        let changes = f.changes(super::super::ChangedRelations::FromChanged);
        let whole = [
            f.pages_table(&pages, MAX_BATCH_BYTES).expect("pages"),
            f.relations_table(&rels, MAX_BATCH_BYTES)
                .expect("relations"),
            f.nodes_table(&changes.nodes, MAX_BATCH_BYTES)
                .expect("nodes"),
        ];
        for t in &whole {
            assert_eq!(t.batches.len(), 1);
        }
        let longest = (0..f.bucket_count() as u32)
            .map(|b| f.descriptor(b).len())
            .max()
            .expect("buckets");
        for limit in [1, longest, 300, 5_000] {
            let cut = [
                f.pages_table(&pages, limit).expect("pages"),
                f.relations_table(&rels, limit).expect("relations"),
                f.nodes_table(&changes.nodes, limit).expect("nodes"),
            ];
            for (c, w) in cut.iter().zip(&whole) {
                assert!(c.batches.len() > 1, "limit {limit}");
                for b in &c.batches {
                    assert!(b.num_rows() > 0);
                    assert!(string_bytes(b) <= limit || b.num_rows() == 1);
                }
                for name in ["bucket", "parent", "child", "value", "path"] {
                    if w.schema.index_of(name).is_ok() {
                        assert_eq!(column(c, name), column(w, name), "{name}");
                    }
                }
            }
        }
        let empty = Fragmenter::new(view(json)).expect("fragmenter");
        let t = empty.pages_table(&[], 10).expect("pages");
        assert_eq!((t.batches.len(), t.batches[0].num_rows()), (1, 0));
    }

    #[test]
    fn row_ranges_cover_every_row_once() {
        let sizes = [3, 0, 5, 1, 1, 9, 2];
        for limit in [1, 4, 6, 100] {
            let ranges = row_ranges(sizes.len(), limit, |i| sizes[i]).expect("ranges");
            let rows: Vec<usize> = ranges.iter().flat_map(Clone::clone).collect();
            assert_eq!(rows, (0..sizes.len()).collect::<Vec<_>>());
            for r in &ranges {
                let bytes: usize = sizes[r.clone()].iter().sum();
                assert!(bytes <= limit || r.len() == 1, "{limit} {r:?}");
            }
        }
        assert!(matches!(
            row_ranges(1, 10, |_| MAX_BATCH_BYTES + 1),
            Err(TableError::RowTooLarge(_))
        ));
    }

    #[test]
    fn assignment_invalid_and_rejected_tables() {
        let view = crate::view::View::from_json(
            r#"{"fragmentations":[{"type":"HierarchicalTime","max_granularity":"day"}]}"#,
        )
        .expect("view");
        let f = Fragmenter::new(view).expect("fragmenter");
        let empty = f
            .assignment_table(Assignments::default(), 2)
            .expect("table");
        assert_eq!(empty.schema.fields().len(), 3);
        assert_eq!(
            empty
                .batches
                .iter()
                .map(RecordBatch::num_rows)
                .sum::<usize>(),
            0
        );
        let invalid = [
            Invalid {
                row: 4,
                column: "timestamp".into(),
                reason: "missing".into(),
                rejected: false,
            },
            Invalid {
                row: 7,
                column: "id".into(),
                reason: "missing".into(),
                rejected: true,
            },
        ];
        let t = invalid_table(&invalid).expect("invalid");
        assert_eq!(t.batches[0].num_rows(), 2);
        let r = rejected_table(&invalid).expect("rejected");
        let b = &r.batches[0];
        assert_eq!(b.num_rows(), 1);
        let rows = b
            .column(0)
            .as_any()
            .downcast_ref::<UInt64Array>()
            .expect("u64");
        let reasons = b
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("str");
        assert_eq!((rows.value(0), reasons.value(0)), (7, "id: missing"));
    }
}
