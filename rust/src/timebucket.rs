//! Hierarchical time buckets (year → month → day → hour → minute → second) in the local time
//! of an IANA zone, with bucket bounds as UTC instants.
//!
//! A bucket is identified by a monotone ordinal of its local start (see [`bucket_key`]). Its
//! bounds are `[f(start), f(next start))`, where `f(L)` is the earliest instant whose local time
//! is `>= L`: a bucket whose local start falls inside a DST gap starts at the transition instant
//! (and one entirely inside the gap is empty), and at a fall-back the first occurrence of a
//! repeated local time counts. To keep every instant inside the bounds of its own bucket, an
//! instant in the *second* occurrence of a repeated local time is bucketed by the latest local
//! time already reached (the clock is treated as standing still until it catches up): in
//! Europe/Brussels on 2023-10-29 the hour bucket 02 spans 00:00Z–02:00Z, and at minute
//! granularity 01:30Z falls in minute 02:59, which spans 00:59Z–02:00Z. Buckets thus tile the
//! time line with no gap and no overlap, and keys never decrease as time goes on. Outside
//! repeated times the key is simply the local wall-clock time truncated to the granularity.
//!
//! The bounds equal Python `zoneinfo` with `fold=0` whenever the local start exists or begins
//! a gap (checked for every day and hour bucket 1975–2036 in a dozen zones). For a start
//! strictly inside a gap (hour 01 in America/St_Johns, whose clocks jumped from 00:01 to 01:01)
//! `fold=0` gives a later start that overlaps the previous bucket; this gives the transition.
//!
//! UTC takes an integer-only path. Other zones use an offset table derived once per process
//! from chrono-tz (tzdata 2025b in chrono-tz 0.10.4, whose rules end in 2099: later instants
//! keep the last offset, usually standard time).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, Offset, TimeZone};
use chrono_tz::Tz;

use crate::xsd::{civil_from_days, days_from_civil, US_PER_DAY, US_PER_SEC};

const US_PER_MINUTE: i64 = 60 * US_PER_SEC;
const US_PER_HOUR: i64 = 3_600 * US_PER_SEC;
/// Year keys are clamped to this before calendar arithmetic; the result saturates anyway, as
/// no i64 microsecond instant lies beyond ±300,000 years.
const MAX_YEAR: i64 = 10_000_000;

/// A level of the time hierarchy, coarsest first (so `Year < Second`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Granularity {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
}

impl Granularity {
    /// Every level, coarsest first.
    pub(crate) const ALL: [Granularity; 6] = [
        Granularity::Year,
        Granularity::Month,
        Granularity::Day,
        Granularity::Hour,
        Granularity::Minute,
        Granularity::Second,
    ];

    /// The bucket-descriptor key of the reference server (`year`, `month`, …).
    pub(crate) fn key(self) -> &'static str {
        match self {
            Granularity::Year => "year",
            Granularity::Month => "month",
            Granularity::Day => "day",
            Granularity::Hour => "hour",
            Granularity::Minute => "minute",
            Granularity::Second => "second",
        }
    }

    #[cfg(test)]
    /// The inverse of [`Granularity::key`] (exact, lowercase).
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.key() == s)
    }
}

/// A zone name that chrono-tz does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown IANA time zone {0:?}")]
pub(crate) struct UnknownZone(pub String);

/// An IANA time zone for bucketing. Cheap to clone; two zones are equal when their names are.
#[derive(Clone)]
pub struct Zone {
    name: &'static str,
    /// `None`: UTC (or any zone whose offset is always zero), bucketed with integers only.
    spans: Option<Arc<Spans>>,
}

impl std::fmt::Debug for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Zone").field(&self.name).finish()
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Zone {}

impl Zone {
    /// A zone by its IANA name (case-sensitive, e.g. `Europe/Brussels`, `UTC`).
    pub(crate) fn parse(name: &str) -> Result<Zone, UnknownZone> {
        if name == "UTC" {
            return Ok(Zone::utc());
        }
        let tz: Tz = name.parse().map_err(|_| UnknownZone(name.to_owned()))?;
        Ok(Zone {
            name: tz.name(),
            spans: spans_of(tz),
        })
    }

    #[cfg(test)]
    /// The IANA name, as chrono-tz spells it.
    pub(crate) fn name(&self) -> &str {
        self.name
    }

    /// UTC (no table, no lookups).
    pub(crate) fn utc() -> Zone {
        Zone {
            name: "UTC",
            spans: None,
        }
    }

    /// The instant of a local wall-clock time (µs since 1970-01-01T00:00 local), as Python's
    /// `zoneinfo` reads it with `fold=0`: in a repeated hour the first occurrence, in a skipped
    /// hour the offset from before the change (docs/semantics.md, "Zone-less timestamps").
    pub(crate) fn utc_of_wall(&self, wall: i64) -> i64 {
        match &self.spans {
            None => wall,
            Some(spans) => spans.utc_of_wall(wall),
        }
    }
}

/// A zone's UTC offset as a step function of UTC time, plus the running maximum of local time
/// that folds need. All values in microseconds.
struct Spans {
    /// `starts[k]`: the first instant of span `k`; `starts[0] == i64::MIN`.
    starts: Vec<i64>,
    /// `offsets[k]`: local − UTC during span `k`.
    offsets: Vec<i64>,
    /// `reach[k]`: the latest local time reached before span `k` (`i64::MIN` for `k == 0`).
    reach: Vec<i64>,
    /// `block_span[b]`: the span in force at the start of block `b` (blocks of
    /// 2^`BLOCK_SHIFT` µs from `PROBE_FROM`), so a lookup scans at most a few spans.
    block_span: Vec<u32>,
}

/// Blocks of 2^45 µs (about 407 days): a handful of transitions each.
const BLOCK_SHIFT: u32 = 45;

/// tzdata's transitions lie in 1845..2100 (chrono-tz 0.10); probe a wider window.
const PROBE_FROM: i64 = -5_364_662_400; // 1800-01-01T00:00:00Z
const PROBE_TO: i64 = 7_258_118_400; // 2200-01-01T00:00:00Z
/// Shorter than any span of constant offset in tzdata (the shortest lasts about four days),
/// so every offset change shows up between two consecutive probes.
const PROBE_STEP: i64 = 86_400;

/// local − UTC in seconds at a UTC second.
fn offset_at(tz: Tz, second: i64) -> i64 {
    // The probe window lies well inside chrono's range, so the fallback is never taken.
    DateTime::from_timestamp(second, 0).map_or(0, |t| {
        i64::from(
            tz.offset_from_utc_datetime(&t.naive_utc())
                .fix()
                .local_minus_utc(),
        )
    })
}

impl Spans {
    fn probe(tz: Tz) -> Spans {
        let mut current = offset_at(tz, PROBE_FROM);
        let mut starts = vec![i64::MIN];
        let mut offsets = vec![current * US_PER_SEC];
        let mut before = PROBE_FROM;
        let mut t = PROBE_FROM + PROBE_STEP;
        while t <= PROBE_TO {
            let target = offset_at(tz, t);
            // Usually one change in (before, t]; the loop also copes with several.
            while current != target {
                let (mut lo, mut hi) = (before, t);
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    if offset_at(tz, mid) == current {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                current = offset_at(tz, hi);
                starts.push(hi * US_PER_SEC);
                offsets.push(current * US_PER_SEC);
                before = hi;
            }
            before = t;
            t += PROBE_STEP;
        }
        let mut reach = Vec::with_capacity(starts.len());
        reach.push(i64::MIN);
        for k in 1..starts.len() {
            // Local time is increasing within a span, so its maximum is just before the end.
            let end_of_previous = starts[k] - 1 + offsets[k - 1];
            reach.push(reach[k - 1].max(end_of_previous));
        }
        let blocks = ((PROBE_TO - PROBE_FROM) * US_PER_SEC) >> BLOCK_SHIFT;
        let block_span = (0..=blocks)
            .map(|b| {
                let t = PROBE_FROM * US_PER_SEC + (b << BLOCK_SHIFT);
                // At most a few hundred spans: the index fits a u32.
                (starts.partition_point(|&s| s <= t) - 1) as u32
            })
            .collect();
        Spans {
            starts,
            offsets,
            reach,
            block_span,
        }
    }

    /// The span in force at `utc`.
    #[inline]
    fn span(&self, utc: i64) -> usize {
        let since = utc.wrapping_sub(PROBE_FROM * US_PER_SEC) as u64;
        match self.block_span.get((since >> BLOCK_SHIFT) as usize) {
            Some(&first) if utc >= PROBE_FROM * US_PER_SEC => {
                let mut k = first as usize;
                while self.starts.get(k + 1).is_some_and(|&s| s <= utc) {
                    k += 1;
                }
                k
            }
            // starts[0] == i64::MIN, so the partition point is at least 1.
            _ => self.starts.partition_point(|&s| s <= utc).saturating_sub(1),
        }
    }

    /// The latest local time reached at or before `utc`: the local time itself, except in the
    /// second occurrence of a repeated local time.
    #[inline]
    fn local_reach(&self, utc: i64) -> i64 {
        let k = self.span(utc);
        utc.saturating_add(self.offsets[k]).max(self.reach[k])
    }

    /// See [`Zone::utc_of_wall`]. Change `k` takes effect, for `fold=0`, at the local time
    /// `starts[k] + max(offset before, offset after)`: a skipped or repeated local time still
    /// belongs to the span before the change. Those thresholds grow with `k`.
    fn utc_of_wall(&self, wall: i64) -> i64 {
        let threshold =
            |k: usize| self.starts[k].saturating_add(self.offsets[k - 1].max(self.offsets[k]));
        // Offsets are within a day, so the span of `wall` read as UTC is a few changes away.
        let mut k = self.span(wall);
        while k + 1 < self.starts.len() && threshold(k + 1) <= wall {
            k += 1;
        }
        while k > 0 && threshold(k) > wall {
            k -= 1;
        }
        wall.saturating_sub(self.offsets[k])
    }

    /// The earliest instant whose local time is `>= local`.
    fn earliest_utc(&self, local: i64) -> i64 {
        // The first span whose latest local time reaches `local` (the last span reaches all).
        let k = self.reach[1..].partition_point(|&r| r < local);
        self.starts[k].max(local.saturating_sub(self.offsets[k]))
    }
}

/// The offset table of a zone, built once per process; `None` for zones that are always UTC.
fn spans_of(tz: Tz) -> Option<Arc<Spans>> {
    static CACHE: OnceLock<Mutex<HashMap<Tz, Option<Arc<Spans>>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    // A poisoned lock only means another thread panicked mid-insert of a complete value.
    let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
    map.entry(tz)
        .or_insert_with(|| {
            let spans = Spans::probe(tz);
            let always_utc = spans.offsets == [0];
            (!always_utc).then(|| Arc::new(spans))
        })
        .clone()
}

/// The bucket an instant falls in: the instant's local wall-clock time in `zone` (in a repeated
/// hour: the latest local time already reached, see the module docs), truncated to `g`, as a
/// monotone ordinal. Year → the year; Month → year*12 + (month−1); Day → local days since
/// 1970-01-01; Hour/Minute/Second → local hours/minutes/seconds since 1970-01-01T00:00 local
/// (floor division, so 1969 gives negative keys).
#[inline]
pub(crate) fn bucket_key(ts_us: i64, g: Granularity, zone: &Zone) -> i64 {
    let local = match &zone.spans {
        None => ts_us,
        Some(spans) => spans.local_reach(ts_us),
    };
    local_key(local, g)
}

/// [`bucket_key`] of many instants, each passed to `put` in order: the zone and granularity are
/// matched once, outside the loop, so that in UTC a day, hour, minute or second key is one
/// division by a constant per value.
#[inline]
pub(crate) fn for_each_key(ts: &[i64], g: Granularity, zone: &Zone, mut put: impl FnMut(i64)) {
    if zone.spans.is_some() {
        return ts.iter().for_each(|&t| put(bucket_key(t, g, zone)));
    }
    match g {
        Granularity::Day => ts.iter().for_each(|&t| put(t.div_euclid(US_PER_DAY))),
        Granularity::Hour => ts.iter().for_each(|&t| put(t.div_euclid(US_PER_HOUR))),
        Granularity::Minute => ts.iter().for_each(|&t| put(t.div_euclid(US_PER_MINUTE))),
        Granularity::Second => ts.iter().for_each(|&t| put(t.div_euclid(US_PER_SEC))),
        Granularity::Year | Granularity::Month => ts.iter().for_each(|&t| put(local_key(t, g))),
    }
}

#[inline]
fn local_key(local_us: i64, g: Granularity) -> i64 {
    match g {
        Granularity::Year => civil_from_days(local_us.div_euclid(US_PER_DAY)).0,
        Granularity::Month => {
            let (y, m, _) = civil_from_days(local_us.div_euclid(US_PER_DAY));
            y * 12 + i64::from(m) - 1
        }
        Granularity::Day => local_us.div_euclid(US_PER_DAY),
        Granularity::Hour => local_us.div_euclid(US_PER_HOUR),
        Granularity::Minute => local_us.div_euclid(US_PER_MINUTE),
        Granularity::Second => local_us.div_euclid(US_PER_SEC),
    }
}

/// The local start of a bucket, in microseconds since 1970-01-01T00:00 local; saturates for
/// keys no i64 instant produces.
fn local_start(key: i64, g: Granularity) -> i64 {
    let day_start = |y: i64, m: u8| {
        days_from_civil(y.clamp(-MAX_YEAR, MAX_YEAR), m, 1).saturating_mul(US_PER_DAY)
    };
    match g {
        Granularity::Year => day_start(key, 1),
        // rem_euclid(12) + 1 is within 1..=12.
        Granularity::Month => day_start(key.div_euclid(12), key.rem_euclid(12) as u8 + 1),
        Granularity::Day => key.saturating_mul(US_PER_DAY),
        Granularity::Hour => key.saturating_mul(US_PER_HOUR),
        Granularity::Minute => key.saturating_mul(US_PER_MINUTE),
        Granularity::Second => key.saturating_mul(US_PER_SEC),
    }
}

/// The same key at a coarser granularity `to` (`to <= from`), e.g. a Day key → its Month key.
/// Equals `bucket_key` at `to` of any instant in the bucket. (For a finer `to` it gives the
/// first `to` bucket inside the key's bucket.)
#[inline]
pub(crate) fn coarsen(key: i64, from: Granularity, to: Granularity) -> i64 {
    if from == to {
        key
    } else {
        local_key(local_start(key, from), to)
    }
}

#[cfg(test)]
/// The bucket's value for its own level, zero-padded as the reference server writes it:
/// year "2023" (at least 4 digits, `-` for years before 0000: "-0044"), month "05", day "12",
/// hour "14", minute "05", second "09".
pub(crate) fn key_label(key: i64, g: Granularity) -> String {
    let mut s = String::new();
    push_key_label(&mut s, key, g);
    s
}

/// [`key_label`] appended to `out` (no allocation, no `fmt`: bucket ids are built in bulk).
pub(crate) fn push_key_label(out: &mut String, key: i64, g: Granularity) {
    // Every value but the year is within 0..=99 (rem_euclid, or a day of the month).
    let two = |out: &mut String, v: i64| push_decimal(out, v as u64, 2);
    match g {
        Granularity::Year => push_year(out, key),
        Granularity::Month => two(out, key.rem_euclid(12) + 1),
        Granularity::Day => two(out, i64::from(civil_from_days(key).2)),
        Granularity::Hour => two(out, key.rem_euclid(24)),
        Granularity::Minute | Granularity::Second => two(out, key.rem_euclid(60)),
    }
}

/// The decimal digits of `v`, left-padded with zeros to at least `width` digits.
pub(crate) fn push_decimal(out: &mut String, mut v: u64, width: usize) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    while v > 0 || start == digits.len() || digits.len() - start < width {
        start -= 1;
        digits[start] = b'0' + (v % 10) as u8;
        v /= 10;
        if start == 0 {
            break;
        }
    }
    out.extend(digits[start..].iter().map(|&d| d as char));
}

/// An XSD 1.1 year: four or more digits, a leading `-` before year 0.
fn push_year(out: &mut String, year: i64) {
    if year < 0 {
        out.push('-');
    }
    push_decimal(out, year.unsigned_abs(), 4);
}

/// `[start, end)` of the bucket as UTC microseconds: `start` is the earliest instant whose
/// local time is `>=` the bucket's local start, `end` the same for the next bucket. In a DST
/// gap that is the transition instant; at a fall-back the earlier occurrence, so a repeated
/// local hour spans two real hours and consecutive buckets tile the time line.
pub(crate) fn key_bounds(key: i64, g: Granularity, zone: &Zone) -> (i64, i64) {
    let start = local_start(key, g);
    let end = local_start(key.saturating_add(1), g);
    match &zone.spans {
        None => (start, end),
        Some(spans) => (spans.earliest_utc(start), spans.earliest_utc(end)),
    }
}

/// An instant as a valid `xsd:dateTime` in UTC with seconds and `Z`, e.g.
/// `2023-05-01T00:00:00Z`; fractional digits only when non-zero (trimmed, up to 6). Years
/// before 0000 or after 9999 as XSD 1.1 writes them (`-0044`, `12023`).
pub(crate) fn format_utc(us: i64) -> String {
    let (y, mo, d) = civil_from_days(us.div_euclid(US_PER_DAY));
    let in_day = us.rem_euclid(US_PER_DAY);
    let second = in_day / US_PER_SEC;
    let micros = in_day % US_PER_SEC;
    let mut s = String::new();
    push_year(&mut s, y);
    // Writing into a String cannot fail.
    let _ = write!(
        s,
        "-{mo:02}-{d:02}T{:02}:{:02}:{:02}",
        second / 3_600,
        second / 60 % 60,
        second % 60
    );
    if micros != 0 {
        let digits = format!("{micros:06}");
        s.push('.');
        s.push_str(digits.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xsd::{parse_xsd_datetime, Naive};
    use Granularity::*;

    fn us(s: &str) -> i64 {
        parse_xsd_datetime(s, Naive::Reject).expect(s)
    }

    fn zone(name: &str) -> Zone {
        Zone::parse(name).expect(name)
    }

    #[test]
    fn zone_less_values_are_wall_time_with_fold_zero() {
        let brussels = zone("Europe/Brussels");
        let local = |s: &str| parse_xsd_datetime(s, Naive::Local(&brussels)).expect(s);
        assert_eq!(local("2023-05-12T23:30:00"), us("2023-05-12T21:30:00Z"));
        assert_eq!(local("2023-01-12"), us("2023-01-11T23:00:00Z"));
        // Skipped: the offset from before the change; repeated: the first occurrence.
        assert_eq!(local("2023-03-26T02:30:00"), us("2023-03-26T01:30:00Z"));
        assert_eq!(local("2023-10-29T02:30:00"), us("2023-10-29T00:30:00Z"));
        assert_eq!(local("2023-10-29T03:00:00"), us("2023-10-29T02:00:00Z"));
        // An explicit offset wins over the zone.
        assert_eq!(local("2023-05-12T23:30:00Z"), us("2023-05-12T23:30:00Z"));
        assert_eq!(Zone::utc().utc_of_wall(42), 42);
        // Far outside the table: the first and last offsets, no overflow.
        assert_eq!(brussels.utc_of_wall(i64::MIN), i64::MIN);
        let _ = brussels.utc_of_wall(i64::MAX);
    }

    /// The Day key of a local date.
    fn local_day(y: i64, m: u8, d: u8) -> i64 {
        days_from_civil(y, m, d)
    }

    fn bounds_str(key: i64, g: Granularity, z: &Zone) -> (String, String) {
        let (a, b) = key_bounds(key, g, z);
        (format_utc(a), format_utc(b))
    }

    #[test]
    fn keys_in_bulk_equal_one_by_one() {
        let mut rng = crate::testing::Rng(5);
        let mut ts: Vec<i64> = (0..2_000)
            .map(|_| rng.next() as i64 >> rng.index(30))
            .collect();
        ts.extend([i64::MIN, i64::MAX, -1, 0, 1, -US_PER_DAY, US_PER_DAY - 1]);
        for z in [Zone::utc(), zone("Europe/Brussels")] {
            for g in Granularity::ALL {
                let mut got = Vec::new();
                for_each_key(&ts, g, &z, |k| got.push(k));
                let want: Vec<i64> = ts.iter().map(|&t| bucket_key(t, g, &z)).collect();
                assert_eq!(got, want, "{g:?} {z:?}");
            }
        }
    }

    #[test]
    fn granularity_keys() {
        for g in Granularity::ALL {
            assert_eq!(Granularity::parse(g.key()), Some(g));
        }
        assert_eq!(Granularity::parse("Year"), None);
        assert_eq!(Granularity::parse("week"), None);
        assert!(Year < Month && Minute < Second);
    }

    #[test]
    fn zones_parse() {
        assert_eq!(zone("UTC"), Zone::utc());
        assert_eq!(zone("Europe/Brussels").name(), "Europe/Brussels");
        assert!(
            zone("Etc/UTC").spans.is_none(),
            "always-UTC zones take the fast path"
        );
        assert!(zone("Etc/GMT-1").spans.is_some());
        assert_eq!(
            Zone::parse("Europe/Atlantis"),
            Err(UnknownZone("Europe/Atlantis".into()))
        );
        assert!(Zone::parse("europe/brussels").is_err());
        assert!(Zone::parse("").is_err());
    }

    #[test]
    fn utc_keys_labels_and_bounds() {
        let z = Zone::utc();
        let t = us("2023-05-12T14:05:09.250Z");
        let expect = [
            (Year, 2023, "2023"),
            (Month, 2023 * 12 + 4, "05"),
            (Day, 19_489, "12"),
            (Hour, 19_489 * 24 + 14, "14"),
            (Minute, (19_489 * 24 + 14) * 60 + 5, "05"),
            (Second, ((19_489 * 24 + 14) * 60 + 5) * 60 + 9, "09"),
        ];
        for (g, key, label) in expect {
            assert_eq!(bucket_key(t, g, &z), key, "{g:?}");
            assert_eq!(key_label(key, g), label, "{g:?}");
        }
        let b = |g| bounds_str(bucket_key(t, g, &z), g, &z);
        assert_eq!(
            b(Year),
            ("2023-01-01T00:00:00Z".into(), "2024-01-01T00:00:00Z".into())
        );
        assert_eq!(
            b(Month),
            ("2023-05-01T00:00:00Z".into(), "2023-06-01T00:00:00Z".into())
        );
        assert_eq!(
            b(Second),
            ("2023-05-12T14:05:09Z".into(), "2023-05-12T14:05:10Z".into())
        );
        // December → next year's January.
        let dec = bucket_key(us("2023-12-31T23:59:59Z"), Month, &z);
        assert_eq!(
            bounds_str(dec, Month, &z),
            ("2023-12-01T00:00:00Z".into(), "2024-01-01T00:00:00Z".into())
        );
    }

    #[test]
    fn leap_days() {
        let z = Zone::utc();
        let feb = |y: i64| {
            let key = bucket_key(us(&format!("{y:04}-02-10T00:00:00Z")), Month, &z);
            let (a, b) = key_bounds(key, Month, &z);
            (b - a) / US_PER_DAY
        };
        assert_eq!(feb(2024), 29);
        assert_eq!(feb(2023), 28);
        assert_eq!(feb(2100), 28);
        assert_eq!(feb(2000), 29);
        let leap = bucket_key(us("2024-02-29T23:59:59.999999Z"), Day, &z);
        assert_eq!(key_label(leap, Day), "29");
        assert_eq!(coarsen(leap, Day, Month), 2024 * 12 + 1);
        assert_eq!(key_label(leap + 1, Day), "01");
        assert_eq!(
            bounds_str(bucket_key(us("2000-12-31T12:00:00Z"), Year, &z), Year, &z),
            ("2000-01-01T00:00:00Z".into(), "2001-01-01T00:00:00Z".into())
        );
        let (a, b) = key_bounds(2000, Year, &z);
        assert_eq!((b - a) / US_PER_DAY, 366);
    }

    #[test]
    fn offsets_crossing_midnight() {
        let t = us("2023-05-12T00:30:00+02:00");
        assert_eq!(bucket_key(t, Day, &Zone::utc()), local_day(2023, 5, 11));
        // In Brussels (CEST) it is 00:30 on the 12th again.
        let b = zone("Europe/Brussels");
        assert_eq!(bucket_key(t, Day, &b), local_day(2023, 5, 12));
        assert_eq!(key_label(bucket_key(t, Hour, &b), Hour), "00");
        // Python: 2023-05-12T23:30Z is local 2023-05-13 01:30 in Brussels, day 19490.
        assert_eq!(bucket_key(us("2023-05-12T23:30:00Z"), Day, &b), 19_490);
        // Python zoneinfo: Asia/Kolkata 2023-01-01 00:00 local = 1672511400 s.
        let k = zone("Asia/Kolkata");
        let day = bucket_key(us("2023-01-01T12:00:00Z"), Day, &k);
        assert_eq!(key_bounds(day, Day, &k).0, 1_672_511_400_000_000);
    }

    #[test]
    fn brussels_spring_forward() {
        let b = zone("Europe/Brussels");
        let day = bucket_key(us("2023-03-26T12:00:00Z"), Day, &b);
        assert_eq!(day, local_day(2023, 3, 26));
        let (a, e) = key_bounds(day, Day, &b);
        // Python zoneinfo: 2023-03-26 00:00 and 2023-03-27 00:00 local.
        assert_eq!((a, e), (1_679_785_200_000_000, 1_679_868_000_000_000));
        assert_eq!((e - a) / US_PER_HOUR, 23);
        // Local 02:xx does not exist: the hour-02 bucket is empty at the transition instant.
        let h2 = day * 24 + 2;
        assert_eq!(
            bounds_str(h2, Hour, &b),
            ("2023-03-26T01:00:00Z".into(), "2023-03-26T01:00:00Z".into())
        );
        assert_eq!(
            bounds_str(h2 - 1, Hour, &b),
            ("2023-03-26T00:00:00Z".into(), "2023-03-26T01:00:00Z".into())
        );
        assert_eq!(
            bucket_key(us("2023-03-26T00:59:59.999999Z"), Hour, &b),
            h2 - 1
        );
        assert_eq!(bucket_key(us("2023-03-26T01:00:00Z"), Hour, &b), h2 + 1);
    }

    #[test]
    fn brussels_fall_back() {
        let b = zone("Europe/Brussels");
        let day = local_day(2023, 10, 29);
        let (a, e) = key_bounds(day, Day, &b);
        assert_eq!((a, e), (1_698_530_400_000_000, 1_698_620_400_000_000));
        assert_eq!((e - a) / US_PER_HOUR, 25);
        let h2 = day * 24 + 2;
        assert_eq!(
            bounds_str(h2, Hour, &b),
            ("2023-10-29T00:00:00Z".into(), "2023-10-29T02:00:00Z".into())
        );
        // Both occurrences of local 02:30 are in the hour-02 bucket.
        for t in ["2023-10-29T00:30:00Z", "2023-10-29T01:30:00Z"] {
            assert_eq!(bucket_key(us(t), Hour, &b), h2, "{t}");
        }
        assert_eq!(bucket_key(us("2023-10-29T02:00:00Z"), Hour, &b), h2 + 1);
        // Minutes: the first occurrence is bucketed normally, the second stays in 02:59,
        // whose bounds run to the end of the repeated hour.
        let m = |t: &str| bucket_key(us(t), Minute, &b);
        assert_eq!(key_label(m("2023-10-29T00:30:00Z"), Minute), "30");
        let last = m("2023-10-29T00:59:30Z");
        assert_eq!(m("2023-10-29T01:30:00Z"), last);
        assert_eq!(
            bounds_str(last, Minute, &b),
            ("2023-10-29T00:59:00Z".into(), "2023-10-29T02:00:00Z".into())
        );
        assert_eq!(m("2023-10-29T02:00:00Z"), last + 1);
        assert_eq!(key_label(last + 1, Minute), "00");
    }

    #[test]
    fn midnight_transition_starts_the_day_at_the_transition() {
        // America/Santiago springs forward at 00:00 local (-04 → -03) on 2022-09-11.
        let s = zone("America/Santiago");
        let day = local_day(2022, 9, 11);
        let (a, e) = key_bounds(day, Day, &s);
        // Python zoneinfo: 2022-09-11T04:00Z and 2022-09-12T03:00Z.
        assert_eq!((a, e), (1_662_868_800_000_000, 1_662_951_600_000_000));
        assert_eq!(key_bounds(day - 1, Day, &s).1, a);
        assert_eq!(bucket_key(a, Day, &s), day);
        assert_eq!(bucket_key(a - 1, Day, &s), day - 1);
        assert_eq!(key_label(bucket_key(a, Hour, &s), Hour), "01");
    }

    #[test]
    fn before_1970() {
        let z = Zone::utc();
        let t = us("1969-07-20T20:17:40Z");
        assert_eq!(bucket_key(t, Hour, &z), -3_940);
        assert_eq!(bucket_key(t, Year, &z), 1969);
        assert_eq!(key_label(bucket_key(t, Day, &z), Day), "20");
        assert_eq!(bucket_key(-1, Second, &z), -1);
        assert_eq!(bucket_key(-1, Day, &z), -1);
        assert_eq!(
            bounds_str(bucket_key(-1, Minute, &z), Minute, &z),
            ("1969-12-31T23:59:00Z".into(), "1970-01-01T00:00:00Z".into())
        );
        let b = zone("Europe/Brussels");
        assert_eq!(bucket_key(us("1969-12-31T23:30:00Z"), Year, &b), 1970);
        let bc = us("-0044-03-15T12:00:00Z");
        assert_eq!(key_label(bucket_key(bc, Year, &z), Year), "-0044");
        assert_eq!(key_label(bucket_key(bc, Month, &z), Month), "03");
        assert_eq!(key_label(0, Year), "0000");
        assert_eq!(key_label(12_023, Year), "12023");
    }

    #[test]
    fn fractional_seconds_and_end_of_day() {
        let z = Zone::utc();
        let one = us("2023-05-12T23:59:59.9Z");
        let twelve = us("2023-05-12T23:59:59.999999999999Z");
        for t in [one, twelve] {
            assert_eq!(bucket_key(t, Day, &z), local_day(2023, 5, 12));
            assert_eq!(key_label(bucket_key(t, Second, &z), Second), "59");
        }
        let midnight = us("2023-05-12T24:00:00Z");
        assert_eq!(bucket_key(midnight, Day, &z), local_day(2023, 5, 13));
        assert_eq!(
            bucket_key(us("2023-05-12Z"), Day, &z),
            local_day(2023, 5, 12)
        );
    }

    #[test]
    fn format_utc_round_trips() {
        let cases = [
            (0, "1970-01-01T00:00:00Z"),
            (-1, "1969-12-31T23:59:59.999999Z"),
            (1_683_900_000_500_000, "2023-05-12T14:00:00.5Z"),
            (1_683_900_000_000_120, "2023-05-12T14:00:00.00012Z"),
            (-62_135_596_800_000_000, "0001-01-01T00:00:00Z"),
            (253_402_300_800_000_000, "10000-01-01T00:00:00Z"),
            (i64::MAX, "294247-01-10T04:00:54.775807Z"),
            (i64::MIN, "-290308-12-21T19:59:05.224192Z"),
        ];
        for (v, s) in cases {
            assert_eq!(format_utc(v), s);
            assert_eq!(us(s), v, "{s}");
        }
        let mut v = i64::MIN;
        while let Some(next) = v.checked_add(7_919_993_370_012_345) {
            assert_eq!(us(&format_utc(v)), v);
            v = next;
        }
    }

    #[test]
    fn coarsen_and_labels_of_extreme_keys_do_not_panic() {
        let z = zone("Europe/Brussels");
        for key in [i64::MIN, i64::MIN + 1, -1, 0, i64::MAX - 1, i64::MAX] {
            for from in Granularity::ALL {
                let _ = key_label(key, from);
                let (a, b) = key_bounds(key, from, &z);
                assert!(a <= b);
                let _ = key_bounds(key, from, &Zone::utc());
                for to in Granularity::ALL {
                    let _ = coarsen(key, from, to);
                }
            }
        }
        for t in [i64::MIN, i64::MAX] {
            for g in Granularity::ALL {
                let _ = bucket_key(t, g, &z);
                let _ = bucket_key(t, g, &Zone::utc());
            }
        }
        // A finer target gives the first sub-bucket.
        assert_eq!(coarsen(2023, Year, Month), 2023 * 12);
        assert_eq!(coarsen(local_day(2023, 5, 12), Day, Hour), 19_489 * 24);
    }

    /// Every bucket contains the instants keyed to it, coarsening agrees with keying at the
    /// coarser level, keys never decrease, and consecutive buckets share their bound.
    fn check_sweep(z: &Zone, from: i64, to: i64, step: i64) {
        let mut t = from;
        let mut previous: Option<[i64; 6]> = None;
        while t < to {
            let keys = Granularity::ALL.map(|g| bucket_key(t, g, z));
            for (i, g) in Granularity::ALL.into_iter().enumerate() {
                let (a, b) = key_bounds(keys[i], g, z);
                assert!(a <= t && t < b, "{} {g:?} {:?}", format_utc(t), z);
                assert_eq!(key_bounds(keys[i] + 1, g, z).0, b);
                for (j, coarser) in Granularity::ALL.into_iter().enumerate().take(i) {
                    assert_eq!(coarsen(keys[i], g, coarser), keys[j], "{g:?}→{coarser:?}");
                }
                if let Some(p) = previous {
                    assert!(p[i] <= keys[i]);
                }
            }
            previous = Some(keys);
            t += step;
        }
    }

    #[test]
    fn sweep_utc_and_brussels() {
        // An odd step so the sweep visits every minute phase, folds and gaps included.
        let step = 3 * US_PER_HOUR + 7 * US_PER_MINUTE + 11 * US_PER_SEC + 13;
        let (from, to) = (us("2019-01-01T00:00:00Z"), us("2026-01-01T00:00:00Z"));
        for name in [
            "UTC",
            "Europe/Brussels",
            "America/Santiago",
            "Australia/Lord_Howe",
        ] {
            check_sweep(&zone(name), from, to, step);
        }
        // Densely across the 2023 transitions in Brussels.
        let b = zone("Europe/Brussels");
        for day in ["2023-03-26", "2023-10-29"] {
            let start = us(&format!("{day}T00:00:00Z")) - US_PER_HOUR;
            check_sweep(&b, start, start + 4 * US_PER_HOUR, 7 * US_PER_SEC + 1);
        }
        // Before 1970 and in the LMT era.
        check_sweep(
            &b,
            us("1840-01-01T00:00:00Z"),
            us("1975-01-01T00:00:00Z"),
            37 * US_PER_HOUR + 1,
        );
    }

    #[test]
    fn table_matches_chrono_tz() {
        for name in [
            "Europe/Brussels",
            "America/Santiago",
            "Asia/Kolkata",
            "Australia/Lord_Howe",
        ] {
            let tz: Tz = name.parse().expect(name);
            let Some(spans) = spans_of(tz) else {
                panic!("{name} is not UTC");
            };
            let mut s = PROBE_FROM - 1_000_000;
            while s < PROBE_TO + 1_000_000 {
                let k = spans.starts.partition_point(|&x| x <= s * US_PER_SEC) - 1;
                assert_eq!(
                    spans.offsets[k],
                    offset_at(tz, s) * US_PER_SEC,
                    "{name} {s}"
                );
                s += 4_999;
            }
        }
    }
}
