//! Typed access to the Arrow columns the kernels read: strings of any Arrow string layout,
//! lists of strings, float coordinates, timestamps and member ids.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use std::borrow::Cow;

use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType, TimeUnit};

/// Why a column cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ColumnError {
    #[error("missing column {name:?} (needed {why}); the input has {have:?}")]
    Missing {
        name: String,
        why: String,
        have: Vec<String>,
    },
    #[error("column {name:?} has type {found}, expected {expected}")]
    Type {
        name: String,
        found: String,
        expected: &'static str,
    },
}

/// A string column in any of Arrow's layouts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Strings<'a> {
    Utf8(&'a arrow_array::StringArray),
    Large(&'a arrow_array::LargeStringArray),
    View(&'a arrow_array::StringViewArray),
}

impl<'a> Strings<'a> {
    pub(crate) fn try_new(array: &'a dyn Array) -> Option<Strings<'a>> {
        match array.data_type() {
            DataType::Utf8 => Some(Strings::Utf8(array.as_string::<i32>())),
            DataType::LargeUtf8 => Some(Strings::Large(array.as_string::<i64>())),
            DataType::Utf8View => Some(Strings::View(array.as_string_view())),
            _ => None,
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Strings::Utf8(a) => a.len(),
            Strings::Large(a) => a.len(),
            Strings::View(a) => a.len(),
        }
    }

    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            Strings::Utf8(a) => a.is_valid(i).then(|| a.value(i)),
            Strings::Large(a) => a.is_valid(i).then(|| a.value(i)),
            Strings::View(a) => a.is_valid(i).then(|| a.value(i)),
        }
    }
}

/// One or several strings per row: a string column, or a list (or large list) of strings.
#[derive(Debug, Clone, Copy)]
pub(crate) enum StringsPerRow<'a> {
    One(Strings<'a>),
    List {
        offsets: Offsets<'a>,
        nulls: Option<&'a arrow_buffer::NullBuffer>,
        values: Strings<'a>,
    },
}

/// List offsets of either width.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Offsets<'a> {
    Small(&'a [i32]),
    Large(&'a [i64]),
}

impl Offsets<'_> {
    fn range(&self, i: usize) -> std::ops::Range<usize> {
        match self {
            Offsets::Small(o) => o[i] as usize..o[i + 1] as usize,
            Offsets::Large(o) => o[i] as usize..o[i + 1] as usize,
        }
    }
}

impl<'a> StringsPerRow<'a> {
    pub(crate) fn try_new(array: &'a dyn Array) -> Option<StringsPerRow<'a>> {
        if let Some(s) = Strings::try_new(array) {
            return Some(StringsPerRow::One(s));
        }
        let (offsets, nulls, values) = match array.data_type() {
            DataType::List(_) => {
                let l = array.as_list::<i32>();
                (Offsets::Small(l.value_offsets()), l.nulls(), l.values())
            }
            DataType::LargeList(_) => {
                let l = array.as_list::<i64>();
                (Offsets::Large(l.value_offsets()), l.nulls(), l.values())
            }
            _ => return None,
        };
        Some(StringsPerRow::List {
            offsets,
            nulls,
            values: Strings::try_new(values.as_ref())?,
        })
    }

    /// The row's strings (nulls inside a list skipped); `None` when the row itself is null.
    pub(crate) fn row(&self, i: usize, out: &mut Vec<&'a str>) -> Option<()> {
        out.clear();
        match self {
            StringsPerRow::One(s) => out.push(s.get(i)?),
            StringsPerRow::List {
                offsets,
                nulls,
                values,
            } => {
                if nulls.is_some_and(|n| n.is_null(i)) {
                    return None;
                }
                out.extend(offsets.range(i).filter_map(|j| values.get(j)));
            }
        }
        Some(())
    }
}

/// Finds a column by name, with an error that says why it was needed.
pub(crate) fn column<'a>(
    batch: &'a RecordBatch,
    name: &str,
    why: &str,
) -> Result<&'a ArrayRef, ColumnError> {
    batch
        .column_by_name(name)
        .ok_or_else(|| ColumnError::Missing {
            name: name.to_owned(),
            why: why.to_owned(),
            have: batch
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect(),
        })
}

pub(crate) fn type_error(name: &str, array: &dyn Array, expected: &'static str) -> ColumnError {
    ColumnError::Type {
        name: name.to_owned(),
        found: array.data_type().to_string(),
        expected,
    }
}

/// A float column as f64 values (borrowed for float64, widened for float32) and its nulls.
pub(crate) fn floats<'a>(
    name: &str,
    array: &'a dyn Array,
) -> Result<(Cow<'a, [f64]>, Option<NullBuffer>), ColumnError> {
    let values = match array.data_type() {
        DataType::Float64 => Cow::Borrowed(&array.as_primitive::<Float64Type>().values()[..]),
        DataType::Float32 => Cow::Owned(
            array
                .as_primitive::<Float32Type>()
                .values()
                .iter()
                .map(|v| *v as f64)
                .collect(),
        ),
        _ => return Err(type_error(name, array, "float64 or float32")),
    };
    Ok((values, array.logical_nulls()))
}

/// A temporal column read as instants: microseconds since the epoch (UTC), `None` where null.
/// Timestamps of any unit (the zone does not change the instant) and dates (midnight UTC).
pub(crate) fn instants(array: &dyn Array) -> Option<Vec<Option<i64>>> {
    let (values, nulls) = instant_values(array)?;
    Some(
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| nulls.as_ref().is_none_or(|n| n.is_valid(i)).then_some(v))
            .collect(),
    )
}

/// [`instants`] as one value per row (borrowed for microsecond timestamps; converted on the
/// rayon pool otherwise) and the nulls, where the values are meaningless.
pub(crate) fn instant_values(array: &dyn Array) -> Option<(Cow<'_, [i64]>, Option<NullBuffer>)> {
    fn map<T: arrow_array::ArrowPrimitiveType>(
        array: &dyn Array,
        f: impl Fn(T::Native) -> i64 + Sync,
    ) -> Cow<'_, [i64]> {
        use rayon::prelude::*;
        Cow::Owned(
            array
                .as_primitive::<T>()
                .values()
                .par_iter()
                .with_min_len(1 << 14)
                .map(|&v| f(v))
                .collect(),
        )
    }
    let values = match array.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => {
            map::<TimestampSecondType>(array, |v| v.saturating_mul(1_000_000))
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            map::<TimestampMillisecondType>(array, |v| v.saturating_mul(1_000))
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            Cow::Borrowed(&array.as_primitive::<TimestampMicrosecondType>().values()[..])
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            map::<TimestampNanosecondType>(array, |v| v.div_euclid(1_000))
        }
        DataType::Date32 => map::<Date32Type>(array, |d| d as i64 * 86_400_000_000),
        DataType::Date64 => map::<Date64Type>(array, |ms| ms.saturating_mul(1_000)),
        _ => return None,
    };
    Some((values, array.logical_nulls()))
}

/// Member ids: strings or integers. Compared only to break timestamp ties.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ids<'a> {
    Strings(Strings<'a>),
    Ints(&'a dyn Array),
}

impl<'a> Ids<'a> {
    pub(crate) fn try_new(name: &str, array: &'a dyn Array) -> Result<Ids<'a>, ColumnError> {
        if let Some(s) = Strings::try_new(array) {
            return Ok(Ids::Strings(s));
        }
        if array.data_type().is_integer() {
            return Ok(Ids::Ints(array));
        }
        Err(type_error(name, array, "a string or integer type"))
    }

    /// Integer ids as i128 so that every Arrow integer type orders correctly.
    fn int(&self, i: usize) -> Option<i128> {
        let Ids::Ints(a) = self else { return None };
        if a.is_null(i) {
            return None;
        }
        Some(match a.data_type() {
            DataType::Int8 => a.as_primitive::<Int8Type>().value(i) as i128,
            DataType::Int16 => a.as_primitive::<Int16Type>().value(i) as i128,
            DataType::Int32 => a.as_primitive::<Int32Type>().value(i) as i128,
            DataType::Int64 => a.as_primitive::<Int64Type>().value(i) as i128,
            DataType::UInt8 => a.as_primitive::<UInt8Type>().value(i) as i128,
            DataType::UInt16 => a.as_primitive::<UInt16Type>().value(i) as i128,
            DataType::UInt32 => a.as_primitive::<UInt32Type>().value(i) as i128,
            DataType::UInt64 => a.as_primitive::<UInt64Type>().value(i) as i128,
            _ => return None,
        })
    }

    pub(crate) fn cmp(&self, i: usize, other: &Ids<'_>, j: usize) -> std::cmp::Ordering {
        match (self, other) {
            (Ids::Strings(a), Ids::Strings(b)) => a.get(i).cmp(&b.get(j)),
            _ => self.int(i).cmp(&other.int(j)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::builder::{ListBuilder, StringBuilder};
    use std::sync::Arc;

    #[test]
    fn strings_per_row_reads_lists_and_skips_inner_nulls() {
        let mut b = ListBuilder::new(StringBuilder::new());
        b.values().append_value("a");
        b.values().append_null();
        b.values().append_value("b");
        b.append(true);
        b.append(false);
        let arr: ArrayRef = Arc::new(b.finish());
        let s = StringsPerRow::try_new(arr.as_ref()).expect("list of strings");
        let mut out = Vec::new();
        assert_eq!(s.row(0, &mut out), Some(()));
        assert_eq!(out, vec!["a", "b"]);
        assert_eq!(s.row(1, &mut out), None);
    }
}
