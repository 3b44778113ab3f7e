//! Pages from Arrow tables: the member, relation and page tables `render_page`,
//! `render_pages` and `page_rows` take, decoded into [`Member`]s, [`Relation`]s and page
//! specs, and the pages rendered.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrowPrimitiveType, RecordBatch};
use arrow_schema::DataType;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::{etag, render, Format, Member, Page, Relation, RenderError};
use crate::columns::{self, ColumnError, Strings};
use crate::view::View;
use crate::xsd;

/// Why tables cannot be rendered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InputError {
    #[error(transparent)]
    Column(#[from] ColumnError),
    #[error("member {row}: the id is null")]
    NullId { row: usize },
    #[error("order: no member row {row}")]
    NoMemberRow { row: usize },
    #[error("remaining_items must not be negative, not {0}")]
    NegativeCount(i64),
    #[error("relation {row}: type and node must not be null")]
    NullRelation { row: usize },
    #[error("{name} must be non-negative integers without nulls")]
    BadIndex { name: String },
    #[error("page IRIs must not be null")]
    NullPage,
    #[error("page {node}: members {start}..{end} beyond the {given} given")]
    PageBeyond {
        node: String,
        start: usize,
        end: usize,
        given: usize,
    },
    #[error("relation of page {page}: no such page")]
    NoPage { page: usize },
    #[error(transparent)]
    Render(#[from] RenderError),
}

type Result<T> = std::result::Result<T, InputError>;

/// A required string column: missing, null-typed or any other type is a column error.
fn strings<'a>(batch: &'a RecordBatch, name: &str, why: &str) -> Result<Strings<'a>> {
    let array = columns::column(batch, name, why)?;
    Strings::try_new(array.as_ref())
        .ok_or_else(|| columns::type_error(name, array.as_ref(), "string").into())
}

/// An optional string column: absent or null-typed (all null) is `None`.
fn optional_strings<'a>(batch: &'a RecordBatch, name: &str) -> Result<Option<Strings<'a>>> {
    match batch.column_by_name(name) {
        None => Ok(None),
        Some(array) if array.data_type() == &DataType::Null => Ok(None),
        Some(array) => Strings::try_new(array.as_ref())
            .map(Some)
            .ok_or_else(|| columns::type_error(name, array.as_ref(), "string").into()),
    }
}

/// A member's timestamp column in one batch.
enum Times<'a> {
    Absent,
    Instants(Vec<Option<i64>>),
    /// Parsed only for the rows asked for: a publish batch hands over every open member to
    /// render a few pages.
    Lexical(Strings<'a>),
}

/// The members (columns `id`, `payload`, optional `timestamp`) at `rows` (row indices across
/// all batches, in that order), or all of them.
pub(crate) fn members<'a>(
    batches: &'a [RecordBatch],
    rows: Option<&[usize]>,
) -> Result<Vec<Member<'a>>> {
    let mut columns = Vec::with_capacity(batches.len());
    let mut starts = Vec::with_capacity(batches.len());
    let mut total = 0;
    for batch in batches {
        let ids = strings(batch, "id", "as the member IRIs")?;
        let payloads = strings(batch, "payload", "as the member descriptions")?;
        let times = match batch.column_by_name("timestamp") {
            None => Times::Absent,
            Some(a) => match (columns::instants(a.as_ref()), Strings::try_new(a.as_ref())) {
                (Some(t), _) => Times::Instants(t),
                (None, Some(s)) => Times::Lexical(s),
                (None, None) if a.data_type() == &DataType::Null => Times::Absent,
                _ => {
                    return Err(columns::type_error(
                        "timestamp",
                        a.as_ref(),
                        "a timestamp or xsd:dateTime strings",
                    )
                    .into())
                }
            },
        };
        columns.push((ids, payloads, times));
        starts.push(total);
        total += batch.num_rows();
    }
    let member = |row: usize| -> Result<Member<'a>> {
        if row >= total {
            return Err(InputError::NoMemberRow { row });
        }
        let b = starts.partition_point(|&s| s <= row) - 1;
        let (ids, payloads, times) = &columns[b];
        let i = row - starts[b];
        let id = ids.get(i).ok_or(InputError::NullId { row })?;
        let timestamp = match times {
            Times::Absent => None,
            Times::Instants(t) => t[i],
            Times::Lexical(s) => s
                .get(i)
                .and_then(|v| xsd::parse_xsd_datetime(v, xsd::Naive::Utc).ok()),
        };
        Ok(Member {
            id,
            payload: payloads.get(i).unwrap_or(""),
            timestamp,
        })
    };
    // In parallel: a publish batch gathers (and parses the timestamps of) a few hundred
    // thousand members scattered over the open logs. The first error in row order is returned.
    let gathered: Vec<Result<Member<'a>>> = match rows {
        Some(rows) => rows.par_iter().map(|&r| member(r)).collect(),
        None => (0..total).into_par_iter().map(member).collect(),
    };
    gathered.into_iter().collect()
}

/// Column `remaining_items` (any integer type, nulls allowed, none negative), or all `None`.
fn counts(batch: &RecordBatch) -> Result<Vec<Option<u64>>> {
    let Some(a) = batch.column_by_name("remaining_items") else {
        return Ok(vec![None; batch.num_rows()]);
    };
    let signed = |v: Option<i64>| -> Result<Option<u64>> {
        v.map(|v| u64::try_from(v).map_err(|_| InputError::NegativeCount(v)))
            .transpose()
    };
    fn unsigned<T: ArrowPrimitiveType>(a: &dyn Array) -> Vec<Option<u64>>
    where
        T::Native: Into<u64>,
    {
        a.as_primitive::<T>()
            .iter()
            .map(|v| v.map(Into::into))
            .collect()
    }
    fn widened<T: ArrowPrimitiveType>(a: &dyn Array) -> Vec<Option<i64>>
    where
        T::Native: Into<i64>,
    {
        a.as_primitive::<T>()
            .iter()
            .map(|v| v.map(Into::into))
            .collect()
    }
    let a = a.as_ref();
    let signed_values = match a.data_type() {
        DataType::UInt64 => return Ok(unsigned::<UInt64Type>(a)),
        DataType::UInt32 => return Ok(unsigned::<UInt32Type>(a)),
        DataType::UInt16 => return Ok(unsigned::<UInt16Type>(a)),
        DataType::UInt8 => return Ok(unsigned::<UInt8Type>(a)),
        DataType::Null => return Ok(vec![None; a.len()]),
        DataType::Int64 => widened::<Int64Type>(a),
        DataType::Int32 => widened::<Int32Type>(a),
        DataType::Int16 => widened::<Int16Type>(a),
        DataType::Int8 => widened::<Int8Type>(a),
        _ => return Err(columns::type_error("remaining_items", a, "integers >= 0").into()),
    };
    signed_values.into_iter().map(signed).collect()
}

/// The relations (columns `type`, `node`, optional `path`, `value`, `datatype` and
/// `remaining_items`) of all batches, in order.
pub(crate) fn relations(batches: &[RecordBatch]) -> Result<Vec<Relation<'_>>> {
    let mut out = Vec::new();
    for batch in batches {
        let kinds = strings(batch, "type", "as the relation classes")?;
        let nodes = strings(batch, "node", "as the relation targets")?;
        let paths = optional_strings(batch, "path")?;
        let values = optional_strings(batch, "value")?;
        let datatypes = optional_strings(batch, "datatype")?;
        let remaining = counts(batch)?;
        for (i, remaining_items) in remaining.into_iter().enumerate() {
            let row = out.len();
            let (Some(kind), Some(node)) = (kinds.get(i), nodes.get(i)) else {
                return Err(InputError::NullRelation { row });
            };
            out.push(Relation {
                kind,
                node,
                path: paths.and_then(|c| c.get(i)),
                value: values.and_then(|c| c.get(i)),
                datatype: datatypes.and_then(|c| c.get(i)),
                remaining_items,
            });
        }
    }
    Ok(out)
}

/// An array of row indices (any of the common integer types, no nulls, none negative).
fn indices_of(a: &dyn Array, name: &str) -> Result<Vec<usize>> {
    fn wide<T: ArrowPrimitiveType>(a: &dyn Array) -> Vec<Option<i128>>
    where
        T::Native: Into<i128>,
    {
        a.as_primitive::<T>()
            .iter()
            .map(|v| v.map(Into::into))
            .collect()
    }
    let values = match a.data_type() {
        DataType::UInt64 => wide::<UInt64Type>(a),
        DataType::UInt32 => wide::<UInt32Type>(a),
        DataType::Int64 => wide::<Int64Type>(a),
        DataType::Int32 => wide::<Int32Type>(a),
        _ => return Err(columns::type_error(name, a, "integers").into()),
    };
    values
        .into_iter()
        .map(|v| {
            v.and_then(|v| usize::try_from(v).ok())
                .ok_or_else(|| InputError::BadIndex {
                    name: name.to_owned(),
                })
        })
        .collect()
}

/// Column `name` as row indices.
fn indices(batch: &RecordBatch, name: &str, why: &str) -> Result<Vec<usize>> {
    indices_of(columns::column(batch, name, why)?.as_ref(), name)
}

/// An optional boolean column (absent: all false; a null is false).
fn flags(batch: &RecordBatch, name: &str) -> Result<Vec<bool>> {
    match batch.column_by_name(name) {
        None => Ok(vec![false; batch.num_rows()]),
        Some(a) if a.data_type() == &DataType::Boolean => {
            Ok(a.as_boolean().iter().map(|v| v.unwrap_or(false)).collect())
        }
        Some(a) => Err(columns::type_error(name, a.as_ref(), "booleans").into()),
    }
}

/// What every page of a call shares.
#[derive(Debug, Clone, Copy)]
pub struct Common<'a> {
    pub stream: &'a str,
    /// The view, described on root pages.
    pub view: Option<&'a View>,
    pub timestamp_path: Option<&'a str>,
    pub version_of_path: Option<&'a str>,
    pub shape: Option<&'a str>,
    pub format: Format,
}

impl<'a> Common<'a> {
    fn page(&self, node: &'a str, immutable: bool, root: bool) -> Page<'a> {
        Page {
            immutable,
            root,
            view: if root { self.view } else { None },
            timestamp_path: self.timestamp_path,
            version_of_path: self.version_of_path,
            shape: self.shape,
            ..Page::new(node, self.stream)
        }
    }
}

/// One page: every member of `members`, the relations of `relations` then `more`; its body
/// and strong ETag. The view is described whenever given (not only on a root page).
pub fn render_page(
    node: &str,
    immutable: bool,
    root: bool,
    common: &Common<'_>,
    members: &[RecordBatch],
    relations: &[RecordBatch],
    more: &[Relation<'_>],
) -> Result<(Vec<u8>, String)> {
    let members = self::members(members, None)?;
    let mut rels = self::relations(relations)?;
    rels.extend_from_slice(more);
    let page = Page {
        view: common.view,
        ..common.page(node, immutable, root)
    };
    let body = render(&page, &members, &rels, common.format)?;
    let etag = etag(&body);
    Ok((body, etag))
}

/// Many pages at once, rendered in parallel; their bodies and ETags in the order of `pages`.
///
/// `pages` has one row per page: `node` (its IRI), `start` and `count` (its members: a slice of
/// `members`, or of `order`, row numbers of `members`, when given), and optional `immutable`
/// and `root` flags. `relations` has the columns of [`relations`] plus `page`, the row in
/// `pages` they start from. A payload error names the member's row in `members`.
pub fn render_pages(
    common: &Common<'_>,
    pages: &[RecordBatch],
    members: &[RecordBatch],
    order: Option<&dyn Array>,
    relations: &[RecordBatch],
) -> Result<Vec<(Vec<u8>, String)>> {
    // Each member's row in `members`, in page order.
    let rows = order.map(|o| indices_of(o, "order")).transpose()?;
    let members = self::members(members, rows.as_deref())?;
    let rels = self::relations(relations)?;
    let mut of_page: Vec<usize> = Vec::with_capacity(rels.len());
    for batch in relations {
        of_page.extend(indices(
            batch,
            "page",
            "as the page each relation starts from",
        )?);
    }
    let mut specs = Vec::new();
    for batch in pages {
        let nodes = strings(batch, "node", "as the page IRIs")?;
        let starts = indices(batch, "start", "as the first member of each page")?;
        let counts = indices(batch, "count", "as the number of members of each page")?;
        let immutable = flags(batch, "immutable")?;
        let root = flags(batch, "root")?;
        for i in 0..batch.num_rows() {
            let node = nodes.get(i).ok_or(InputError::NullPage)?;
            let span = starts[i]..starts[i].saturating_add(counts[i]);
            if span.end > members.len() {
                return Err(InputError::PageBeyond {
                    node: node.to_owned(),
                    start: span.start,
                    end: span.end,
                    given: members.len(),
                });
            }
            specs.push((node, span, immutable[i], root[i]));
        }
    }
    // Relations grouped by page, in their given order.
    let mut grouped: Vec<Vec<Relation<'_>>> = vec![Vec::new(); specs.len()];
    for (r, &p) in rels.iter().zip(&of_page) {
        grouped
            .get_mut(p)
            .ok_or(InputError::NoPage { page: p })?
            .push(*r);
    }
    specs
        .par_iter()
        .zip(&grouped)
        .map(|((node, span, immutable, root), rels)| {
            let page = common.page(node, *immutable, *root);
            let body =
                render(&page, &members[span.clone()], rels, common.format).map_err(
                    |e| match e {
                        RenderError::Payload { row, id, line, why } => RenderError::Payload {
                            row: rows
                                .as_ref()
                                .map_or(row + span.start, |r| r[row + span.start]),
                            id,
                            line,
                            why,
                        },
                        e => e,
                    },
                )?;
            let etag = etag(&body);
            Ok((body, etag))
        })
        .collect()
}

/// Where the rows of each page are, as [`page_rows`] finds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRows {
    /// Rows of the members table, page by page in the order of the keys, each page's by `seq`.
    pub order: Vec<u64>,
    /// Page `i` holds `order[start[i]..start[i] + count[i]]`.
    pub start: Vec<u64>,
    pub count: Vec<u64>,
}

/// The rows of `members` (columns `key`, a string, and `seq`, a uint64 without nulls) on each
/// page of `keys`, for [`render_pages`]. A key given twice: its first place holds the rows,
/// the other is empty. One hash probe per row instead of a join and a sort on string keys.
pub fn page_rows(members: &[RecordBatch], keys: &dyn Array) -> Result<PageRows> {
    let wanted =
        Strings::try_new(keys).ok_or_else(|| columns::type_error("keys", keys, "string"))?;
    let mut index: FxHashMap<&str, u32> = FxHashMap::default();
    index.reserve(wanted.len());
    for i in 0..wanted.len() {
        if let Some(k) = wanted.get(i) {
            index.entry(k).or_insert(i as u32);
        }
    }
    // (page, seq, row) of every row on a wanted page.
    let mut found: Vec<(u32, u64, u64)> = Vec::new();
    let mut offset = 0u64;
    for batch in members {
        let key = strings(batch, "key", "as the page key of each row")?;
        let seq = columns::column(batch, "seq", "as the arrival of each row")?;
        let seq = match seq.data_type() {
            DataType::UInt64 if seq.null_count() == 0 => seq.as_primitive::<UInt64Type>(),
            _ => {
                return Err(columns::type_error("seq", seq.as_ref(), "uint64 without nulls").into())
            }
        };
        for r in 0..batch.num_rows() {
            if let Some(&page) = key.get(r).and_then(|k| index.get(k)) {
                found.push((page, seq.value(r), offset + r as u64));
            }
        }
        offset += batch.num_rows() as u64;
    }
    found.par_sort_unstable();
    let mut count = vec![0u64; wanted.len()];
    for &(page, _, _) in &found {
        count[page as usize] += 1;
    }
    let start: Vec<u64> = count
        .iter()
        .scan(0u64, |at, &n| {
            let s = *at;
            *at += n;
            Some(s)
        })
        .collect();
    let order: Vec<u64> = found.into_iter().map(|(_, _, row)| row).collect();
    Ok(PageRows {
        order,
        start,
        count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, RecordBatch, StringArray, UInt32Array, UInt64Array};
    use std::sync::Arc;

    fn table(columns: Vec<(&str, Arc<dyn Array>)>) -> RecordBatch {
        RecordBatch::try_from_iter(columns).expect("a table")
    }

    fn strs(v: Vec<Option<&str>>) -> Arc<dyn Array> {
        Arc::new(StringArray::from(v))
    }

    fn payload(id: &str) -> String {
        format!("<{id}> <http://ex.org/p> \"v\" .\n")
    }

    fn members_table(ids: &[&str]) -> RecordBatch {
        let payloads: Vec<String> = ids.iter().map(|id| payload(id)).collect();
        table(vec![
            ("id", strs(ids.iter().map(|&i| Some(i)).collect())),
            (
                "payload",
                strs(payloads.iter().map(|p| Some(p.as_str())).collect()),
            ),
        ])
    }

    const COMMON: Common<'static> = Common {
        stream: "http://ex.org/s",
        view: None,
        timestamp_path: None,
        version_of_path: None,
        shape: None,
        format: Format::NTriples,
    };

    #[test]
    fn page_rows_groups_rows_by_key_in_key_order_then_seq() {
        let batch = |keys: Vec<Option<&str>>, seq: Vec<u64>| {
            table(vec![
                ("key", strs(keys)),
                ("seq", Arc::new(UInt64Array::from(seq))),
            ])
        };
        let members = [
            batch(
                vec![Some("a"), Some("b"), None, Some("a")],
                vec![5, 1, 2, 3],
            ),
            batch(vec![Some("b"), Some("x"), Some("a")], vec![0, 9, 4]),
        ];
        let keys = StringArray::from(vec![Some("b"), Some("a"), Some("c"), None, Some("a")]);
        let rows = page_rows(&members, &keys).expect("valid tables");
        // b: rows 4 (seq 0), 1 (seq 1); a: rows 3 (seq 3), 6 (seq 4), 0 (seq 5).
        assert_eq!(rows.order, [4, 1, 3, 6, 0]);
        assert_eq!(rows.start, [0, 2, 5, 5, 5]);
        assert_eq!(rows.count, [2, 3, 0, 0, 0]);

        let no_pages = page_rows(&members, &StringArray::from(Vec::<&str>::new())).expect("ok");
        assert!(no_pages.order.is_empty() && no_pages.count.is_empty());
    }

    #[test]
    fn page_rows_refuses_unusable_columns() {
        let keys = StringArray::from(vec!["a"]);
        let nullable_seq = table(vec![
            ("key", strs(vec![Some("a")])),
            ("seq", Arc::new(UInt64Array::from(vec![None]))),
        ]);
        let err = page_rows(&[nullable_seq], &keys).expect_err("an error");
        assert_eq!(
            err.to_string(),
            "column \"seq\" has type UInt64, expected uint64 without nulls"
        );
        let no_seq = table(vec![("key", strs(vec![Some("a")]))]);
        assert!(matches!(
            page_rows(&[no_seq], &keys),
            Err(InputError::Column(ColumnError::Missing { .. }))
        ));
        let err = page_rows(&[], &UInt32Array::from(vec![1])).expect_err("an error");
        assert!(matches!(err, InputError::Column(ColumnError::Type { .. })));
    }

    #[test]
    fn members_across_batches_by_row() {
        let batches = [
            members_table(&["http://ex.org/1", "http://ex.org/2"]),
            members_table(&["http://ex.org/3"]),
        ];
        let all = members(&batches, None).expect("valid");
        let ids: Vec<&str> = all.iter().map(|m| m.id).collect();
        assert_eq!(
            ids,
            ["http://ex.org/1", "http://ex.org/2", "http://ex.org/3"]
        );
        let some = members(&batches, Some(&[2, 0])).expect("valid");
        assert_eq!(some[0].id, "http://ex.org/3");
        assert_eq!(some[1].payload, payload("http://ex.org/1"));
        assert_eq!(
            members(&batches, Some(&[0, 3])).expect_err("an error"),
            InputError::NoMemberRow { row: 3 }
        );
    }

    #[test]
    fn members_timestamps_and_null_ids() {
        let batch = table(vec![
            ("id", strs(vec![Some("http://ex.org/1"), None])),
            ("payload", strs(vec![None, Some("")])),
            (
                "timestamp",
                strs(vec![Some("1970-01-01T00:00:01Z"), Some("no")]),
            ),
        ]);
        let first = members(std::slice::from_ref(&batch), Some(&[0])).expect("valid");
        assert_eq!(first[0].timestamp, Some(1_000_000));
        assert_eq!(first[0].payload, "");
        let err = members(&[batch], None).expect_err("an error");
        assert_eq!(err, InputError::NullId { row: 1 });
        assert_eq!(err.to_string(), "member 1: the id is null");
        let bad_time = table(vec![
            ("id", strs(vec![Some("http://ex.org/1")])),
            ("payload", strs(vec![Some("")])),
            ("timestamp", Arc::new(UInt32Array::from(vec![1]))),
        ]);
        assert!(matches!(
            members(&[bad_time], None),
            Err(InputError::Column(ColumnError::Type { .. }))
        ));
    }

    #[test]
    fn relations_columns_and_their_errors() {
        let batch = table(vec![
            ("type", strs(vec![Some("http://t/R"), Some("http://t/R")])),
            (
                "node",
                strs(vec![Some("http://ex.org/a"), Some("http://ex.org/b")]),
            ),
            ("value", strs(vec![None, Some("5")])),
            (
                "remaining_items",
                Arc::new(Int64Array::from(vec![Some(3), None])),
            ),
        ]);
        let rels = relations(std::slice::from_ref(&batch)).expect("valid");
        assert_eq!(rels.len(), 2);
        assert_eq!(
            (rels[0].node, rels[0].remaining_items),
            ("http://ex.org/a", Some(3))
        );
        assert_eq!((rels[1].value, rels[1].path), (Some("5"), None));
        let negative = table(vec![
            ("type", strs(vec![Some("http://t/R")])),
            ("node", strs(vec![Some("http://ex.org/a")])),
            ("remaining_items", Arc::new(Int64Array::from(vec![-1]))),
        ]);
        assert_eq!(
            relations(&[negative]).expect_err("an error"),
            InputError::NegativeCount(-1)
        );
        let null_node = table(vec![
            ("type", strs(vec![Some("http://t/R")])),
            ("node", strs(vec![None])),
        ]);
        assert_eq!(
            relations(&[batch, null_node]).expect_err("an error"),
            InputError::NullRelation { row: 2 }
        );
    }

    fn pages_table(nodes: &[&str], start: Vec<u32>, count: Vec<u32>) -> RecordBatch {
        table(vec![
            ("node", strs(nodes.iter().map(|&n| Some(n)).collect())),
            ("start", Arc::new(UInt32Array::from(start))),
            ("count", Arc::new(UInt32Array::from(count))),
        ])
    }

    #[test]
    fn render_pages_renders_each_slice_of_the_order() {
        let ids = ["http://ex.org/1", "http://ex.org/2", "http://ex.org/3"];
        let members_batches = [members_table(&ids)];
        let pages = [pages_table(
            &["http://ex.org/p1", "http://ex.org/p2"],
            vec![0, 2],
            vec![2, 1],
        )];
        let order = UInt64Array::from(vec![2, 0, 1]);
        let rels = [table(vec![
            ("type", strs(vec![Some("https://w3id.org/tree#Relation")])),
            ("node", strs(vec![Some("http://ex.org/p1")])),
            ("page", Arc::new(UInt32Array::from(vec![1]))),
        ])];
        let out =
            render_pages(&COMMON, &pages, &members_batches, Some(&order), &rels).expect("renders");
        assert_eq!(out.len(), 2);
        let all = members(&members_batches, None).expect("valid");
        let relation = relations(&rels).expect("valid");
        let p1 = render(
            &Page::new("http://ex.org/p1", COMMON.stream),
            &[all[2], all[0]],
            &[],
            Format::NTriples,
        )
        .expect("renders");
        let p2 = render(
            &Page::new("http://ex.org/p2", COMMON.stream),
            &[all[1]],
            &relation,
            Format::NTriples,
        )
        .expect("renders");
        assert_eq!(out[0], (p1.clone(), etag(&p1)));
        assert_eq!(out[1], (p2.clone(), etag(&p2)));
        // The same as one page at a time.
        let one = render_page(
            "http://ex.org/p2",
            false,
            false,
            &COMMON,
            &[members_table(&[ids[1]])],
            &[],
            &relation,
        )
        .expect("renders");
        assert_eq!(one, out[1]);
    }

    #[test]
    fn render_pages_errors() {
        let members_batches = [members_table(&["http://ex.org/1", "http://ex.org/2"])];
        let beyond = [pages_table(&["http://ex.org/p"], vec![1], vec![2])];
        let err =
            render_pages(&COMMON, &beyond, &members_batches, None, &[]).expect_err("an error");
        assert_eq!(
            err.to_string(),
            "page http://ex.org/p: members 1..3 beyond the 2 given"
        );
        let pages = [pages_table(&["http://ex.org/p"], vec![0], vec![1])];
        let rels = [table(vec![
            ("type", strs(vec![Some("https://w3id.org/tree#Relation")])),
            ("node", strs(vec![Some("http://ex.org/q")])),
            ("page", Arc::new(UInt32Array::from(vec![1]))),
        ])];
        let err =
            render_pages(&COMMON, &pages, &members_batches, None, &rels).expect_err("an error");
        assert_eq!(err, InputError::NoPage { page: 1 });
        let negative = Int64Array::from(vec![-1]);
        let err = render_pages(&COMMON, &pages, &members_batches, Some(&negative), &[]);
        assert_eq!(
            err.expect_err("an error").to_string(),
            "order must be non-negative integers without nulls"
        );

        // A bad payload is reported at its row of `members`, through the order.
        let bad = table(vec![
            (
                "id",
                strs(vec![Some("http://ex.org/1"), Some("http://ex.org/2")]),
            ),
            ("payload", strs(vec![Some(""), Some("not n-triples\n")])),
        ]);
        let order = UInt64Array::from(vec![1, 0]);
        let err = render_pages(&COMMON, &pages, &[bad], Some(&order), &[]).expect_err("an error");
        assert!(
            matches!(err, InputError::Render(RenderError::Payload { row: 1, .. })),
            "{err:?}"
        );
    }
}
