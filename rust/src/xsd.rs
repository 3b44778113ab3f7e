//! `xsd:dateTime` and `xsd:date` lexical forms → microseconds since the Unix epoch (UTC).
//!
//! Follows XML Schema 1.1 Part 2 (§3.3.7 dateTime, §3.3.9 date):
//!
//! * `[-]YYYY-MM-DDThh:mm:ss[.f+][zone]` and `[-]YYYY-MM-DD[zone]`, where zone is `Z` or
//!   `(+|-)hh:mm` up to ±14:00 (`-00:00` is UTC). A date stands for midnight at the start of that
//!   day in its zone. Leading/trailing XML whitespace is ignored (whiteSpace=collapse).
//! * Years have four or more digits and no leading zero beyond four; `0000` is 1 BCE and
//!   `-0001` is 2 BCE (proleptic Gregorian, year 0 is a leap year); `-0000` is year 0 too.
//!   Years beyond 9999 are accepted as long as the instant fits an `i64` of microseconds
//!   (about ±292,000 years); beyond that the value is rejected as out of range, never wrapped.
//! * `24:00:00` (fraction zero) is 00:00:00 of the next day; second 60 is rejected (no leap
//!   seconds in the value space).
//! * Fractional seconds of any length are truncated to microseconds toward the past, so a value
//!   never moves into the next bucket by rounding.
//!
//! The parser works on bytes with bounds-checked reads: any input string gives a value or an
//! error, never a panic. It allocates nothing and calls no chrono code, because the
//! fragmenter parses tens of millions of timestamps per second.

use arrow_array::{Array, TimestampMicrosecondArray};
use arrow_buffer::{BooleanBuffer, Buffer, NullBuffer, ScalarBuffer};
use arrow_schema::DataType;

use crate::columns::Strings;
use crate::timebucket::Zone;

/// Microseconds in a second.
pub(crate) const US_PER_SEC: i64 = 1_000_000;
/// Microseconds in a (UTC or local) day.
pub(crate) const US_PER_DAY: i64 = 86_400 * US_PER_SEC;

/// More year digits than this cannot fit an `i64` of microseconds; stopping early also keeps
/// the day arithmetic far from overflow.
const MAX_YEAR_DIGITS: usize = 9;
/// Beyond this, `civil_from_days` clamps: no `i64` microsecond instant is anywhere near it.
const MAX_DAYS: i64 = 1 << 40;

/// What to do with a value that has no timezone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naive<'z> {
    /// Read it as UTC.
    Utc,
    /// Refuse it: its instant is only known to within ±14 h.
    Reject,
    /// Read it as wall-clock time in this zone, as the reference server reads a zone-less
    /// value in its own zone (docs/semantics.md, "Zone-less timestamps").
    Local(&'z Zone),
}

/// Why a lexical form is not a valid `xsd:dateTime` / `xsd:date`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DateTimeError {
    #[error("invalid xsd:dateTime: empty value")]
    Empty,
    /// `at` is the byte offset in the untrimmed input.
    #[error("invalid xsd:dateTime: expected {expected} at byte {at}")]
    Syntax { expected: &'static str, at: usize },
    #[error("invalid xsd:dateTime: year with a leading zero beyond four digits")]
    YearLeadingZero,
    #[error("invalid xsd:dateTime: month {0} out of range")]
    Month(u8),
    #[error("invalid xsd:dateTime: day {day} out of range for {year:04}-{month:02}")]
    Day { year: i64, month: u8, day: u8 },
    #[error("invalid xsd:dateTime: hour {0} out of range")]
    Hour(u8),
    #[error("invalid xsd:dateTime: hour 24 is only allowed as 24:00:00")]
    EndOfDay,
    #[error("invalid xsd:dateTime: minute {0} out of range")]
    Minute(u8),
    #[error("invalid xsd:dateTime: second {0} out of range")]
    Second(u8),
    #[error("invalid xsd:dateTime: timezone offset {sign}{hours:02}:{minutes:02} out of range")]
    Offset { sign: char, hours: u8, minutes: u8 },
    #[error("invalid xsd:dateTime: instant out of the representable range")]
    OutOfRange,
    #[error("xsd:dateTime without a timezone (naive=\"reject\")")]
    Naive,
}

/// Calendar arithmetic runs on years shifted by a whole number of 400-year cycles, so that all
/// divisions are unsigned (cheaper than floor division of signed values).
const SHIFT_YEARS: i64 = 400 * 10_000_000;
/// Days in 400 years.
const DAYS_PER_ERA: u64 = 146_097;
/// Day number of 1970-01-01 on the shifted, March-based scale of [`days_from_civil`].
const EPOCH_DAYS: u64 = shifted_days(1969 + SHIFT_YEARS as u64, 306);

/// Days from March 1st of shifted year 0 to day `doy` (0-based, from March 1st) of the
/// March-based shifted year `y`.
const fn shifted_days(y: u64, doy: u64) -> u64 {
    y * 365 + y / 4 - y / 100 + y / 400 + doy
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (`month` 1..=12, `day` 1..=31,
/// not validated). Exact for |year| < 4·10^9; years beyond are clamped.
#[inline]
pub(crate) fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    // Count years from March so that the leap day is the last day of the year.
    let jan_or_feb = month <= 2;
    let y = year.clamp(1 - SHIFT_YEARS, SHIFT_YEARS) + SHIFT_YEARS - i64::from(jan_or_feb);
    let m = u64::from(if jan_or_feb { month + 9 } else { month - 3 });
    let doy = (153 * m + 2) / 5 + u64::from(day);
    // y >= 0 after the clamp and the shift; both day numbers are below 2^42. The - 1 for the
    // 1-based day comes last, so that no input can underflow.
    shifted_days(y as u64, doy) as i64 - EPOCH_DAYS as i64 - 1
}

/// The proleptic Gregorian `(year, month, day)` of a day count from 1970-01-01.
/// Counts beyond ±2^40 days (far outside any `i64` microsecond instant) are clamped.
#[inline]
pub fn civil_from_days(days: i64) -> (i64, u8, u8) {
    // Non-negative after the clamp: EPOCH_DAYS is about 1.46·10^12 > 2^40.
    let z = (days.clamp(-MAX_DAYS, MAX_DAYS) + EPOCH_DAYS as i64) as u64;
    let era = z / DAYS_PER_ERA;
    let doe = z % DAYS_PER_ERA;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    // Both fit a u8 by construction (1..=31, 1..=12).
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = (era * 400 + yoe) as i64 - SHIFT_YEARS + i64::from(month <= 2);
    (year, month, day)
}

/// Proleptic Gregorian leap rule; year 0 (1 BCE) is a leap year.
#[inline]
pub(crate) fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

#[inline]
fn days_in_month(year: i64, month: u8) -> u8 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[inline]
fn is_xml_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

/// The date and time fields before the fraction and the zone; `time` is `None` for a date.
struct Fields {
    year: i64,
    month: u8,
    day: u8,
    time: Option<[u8; 3]>,
}

/// A byte pattern for [`common_prefix`]: `d` marks a digit, anything else must match exactly.
const fn template(pattern: &[u8; 8]) -> [u64; 2] {
    // [mask of the exact bytes, their values]
    let mut mask = 0u64;
    let mut value = 0u64;
    let mut k = 0;
    while k < 8 {
        if pattern[k] != b'd' {
            mask |= 0xFF << (8 * k);
            value |= (pattern[k] as u64) << (8 * k);
        }
        k += 1;
    }
    [mask, value]
}

/// Zero if the little-endian word `w` matches `t` (exact bytes equal, the others ASCII
/// digits), so that several words need one test.
#[inline(always)]
fn mismatch(w: u64, t: [u64; 2]) -> u64 {
    let digits = !t[0];
    // A digit is 0x30..=0x39: high nibble 3, and adding 6 does not carry into the high nibble
    // (no carry crosses lanes once the high nibbles are 3).
    let high = 0xF0F0_F0F0_F0F0_F0F0 & digits;
    let three = 0x3030_3030_3030_3030 & digits;
    let six = 0x0606_0606_0606_0606 & digits;
    ((w & t[0]) ^ t[1]) | ((w & high) ^ three) | ((w.wrapping_add(six) & high) ^ three)
}

/// Lane `k` of the result is `10 * lane k + lane k+1` of `w`'s low nibbles: the two-digit
/// numbers starting at every lane at once (at most 15 * 10 + 15, so no carry between lanes).
#[inline(always)]
fn pairs(w: u64) -> u64 {
    let v = w & 0x0F0F_0F0F_0F0F_0F0F;
    v * 10 + (v >> 8)
}

#[inline(always)]
fn lane(p: u64, k: u32) -> u8 {
    (p >> (8 * k)) as u8
}

/// The fields of the usual `YYYY-MM-DDThh:mm:ss` prefix, if the bytes have that shape (ranges
/// are checked by the caller). Three word loads and one branch: most values take this path,
/// everything else is read byte by byte by [`Cursor::fields`].
#[inline(always)]
fn common_prefix(c: &[u8; 19]) -> Option<Fields> {
    const DATE: [u64; 2] = template(b"dddd-dd-");
    const DAY_HOUR_MINUTE: [u64; 2] = template(b"ddTdd:dd");
    const TIME: [u64; 2] = template(b"dd:dd:dd");
    let word = |k: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&c[k..k + 8]);
        u64::from_le_bytes(w)
    };
    let (a, b, t) = (word(0), word(8), word(11));
    let ok = (mismatch(a, DATE) | mismatch(b, DAY_HOUR_MINUTE) | mismatch(t, TIME)) == 0;
    let (a, b, t) = (pairs(a), pairs(b), pairs(t));
    ok.then(|| Fields {
        year: i64::from(lane(a, 0)) * 100 + i64::from(lane(a, 2)),
        month: lane(a, 5),
        day: lane(b, 0),
        time: Some([lane(b, 3), lane(b, 6), lane(t, 6)]),
    })
}

/// Bytes and the offset of `b[0]` in the untrimmed input (for error positions).
struct Cursor<'a> {
    b: &'a [u8],
    lead: usize,
}

impl Cursor<'_> {
    #[inline]
    fn syntax(&self, expected: &'static str, at: usize) -> DateTimeError {
        DateTimeError::Syntax {
            expected,
            at: self.lead + at,
        }
    }

    #[inline]
    fn byte(&self, at: usize, want: u8, expected: &'static str) -> Result<(), DateTimeError> {
        match self.b.get(at) {
            Some(&c) if c == want => Ok(()),
            _ => Err(self.syntax(expected, at)),
        }
    }

    #[inline]
    fn two_digits(&self, at: usize, expected: &'static str) -> Result<u8, DateTimeError> {
        match (self.b.get(at), self.b.get(at + 1)) {
            (Some(&h), Some(&l)) if h.is_ascii_digit() && l.is_ascii_digit() => {
                Ok((h - b'0') * 10 + (l - b'0'))
            }
            _ => Err(self.syntax(expected, at)),
        }
    }

    /// Why the bytes from `at` on are not a timezone followed by the end of the value.
    #[cold]
    fn zone_error(&self, at: usize) -> DateTimeError {
        let b = self.b;
        match b.get(at) {
            Some(b'Z') => self.syntax("the end of the value", at + 1),
            Some(b'+' | b'-') => {
                let check = || {
                    self.two_digits(at + 1, "a two-digit offset hour")?;
                    self.byte(at + 3, b':', "':' in the timezone offset")?;
                    self.two_digits(at + 4, "two-digit offset minutes")?;
                    Err(self.syntax("the end of the value", at + 6))
                };
                check().unwrap_or_else(|e| e)
            }
            _ => self.syntax("a timezone or the end of the value", at),
        }
    }

    /// The general form of everything before the fraction, and where it ends.
    #[cold]
    #[inline(never)]
    fn fields(&self) -> Result<(Fields, usize), DateTimeError> {
        let b = self.b;
        let Some(&first) = b.first() else {
            return Err(DateTimeError::Empty);
        };
        // Year: '-'? digit{4,}, no leading zero beyond four digits.
        let negative = first == b'-';
        let year_start = usize::from(negative);
        let mut i = year_start;
        let mut year: i64 = 0;
        while let Some(&d) = b.get(i) {
            if !d.is_ascii_digit() {
                break;
            }
            if i - year_start == MAX_YEAR_DIGITS {
                return Err(DateTimeError::OutOfRange);
            }
            year = year * 10 + i64::from(d - b'0');
            i += 1;
        }
        let digits = i - year_start;
        if digits < 4 {
            return Err(self.syntax("a year of four or more digits", year_start));
        }
        if digits > 4 && b[year_start] == b'0' {
            return Err(DateTimeError::YearLeadingZero);
        }
        if negative {
            year = -year;
        }
        self.byte(i, b'-', "'-' after the year")?;
        let month = self.two_digits(i + 1, "a two-digit month")?;
        self.byte(i + 3, b'-', "'-' after the month")?;
        let day = self.two_digits(i + 4, "a two-digit day")?;
        i += 6;
        let time = match b.get(i) {
            Some(b'T') => {
                let hour = self.two_digits(i + 1, "a two-digit hour")?;
                self.byte(i + 3, b':', "':' after the hour")?;
                let minute = self.two_digits(i + 4, "a two-digit minute")?;
                self.byte(i + 6, b':', "':' after the minute")?;
                let second = self.two_digits(i + 7, "a two-digit second")?;
                i += 9;
                Some([hour, minute, second])
            }
            None | Some(b'Z' | b'+' | b'-') => None, // an xsd:date
            Some(_) => return Err(self.syntax("'T' or a timezone after the date", i)),
        };
        let fields = Fields {
            year,
            month,
            day,
            time,
        };
        Ok((fields, i))
    }
}

/// The value without leading/trailing XML whitespace, and how many bytes went in front.
#[cold]
fn trim(raw: &[u8]) -> (&[u8], usize) {
    let lead = raw.iter().take_while(|&&c| is_xml_space(c)).count();
    let trail = raw[lead..]
        .iter()
        .rev()
        .take_while(|&&c| is_xml_space(c))
        .count();
    (&raw[lead..raw.len() - trail], lead)
}

/// Parses an `xsd:dateTime` or `xsd:date` lexical form into microseconds since
/// 1970-01-01T00:00:00Z. See the module documentation for the accepted forms.
pub(crate) fn parse_xsd_datetime(s: &str, naive: Naive<'_>) -> Result<i64, DateTimeError> {
    let b = s.as_bytes();
    parse_common(b, matches!(naive, Naive::Utc)).map_or_else(|| parse_bytes(b, naive), Ok)
}

/// The general parser behind [`parse_xsd_datetime`], on the bytes of a string.
fn parse_bytes(raw: &[u8], naive: Naive<'_>) -> Result<i64, DateTimeError> {
    // XML whitespace is at most b' ': one cheap test keeps trimming off the common path.
    let (b, lead) = match (raw.first(), raw.last()) {
        (Some(&f), Some(&l)) if f.min(l) <= b' ' => trim(raw),
        _ => (raw, 0),
    };
    let c = Cursor { b, lead };
    let (
        Fields {
            year,
            month,
            day,
            time,
        },
        mut i,
    ) = match b.first_chunk().and_then(common_prefix) {
        Some(fields) => (fields, 19),
        None => c.fields()?,
    };
    if !(1..=12).contains(&month) {
        return Err(DateTimeError::Month(month));
    }
    if day == 0 || day > days_in_month(year, month) {
        return Err(DateTimeError::Day { year, month, day });
    }

    let mut second_of_day: i64 = 0;
    let mut micros: i64 = 0;
    if let Some([hour, minute, second]) = time {
        let mut fraction = &b[..0];
        if b.get(i) == Some(&b'.') {
            let start = i + 1;
            // Digits past the sixth are dropped: truncation is the floor here, as the
            // fraction only ever adds to the instant.
            let mut k = start;
            match b[start..] {
                // Milliseconds, the most common fraction, without the loops.
                [d0, d1, d2, ref tail @ ..]
                    if [d0, d1, d2].iter().all(u8::is_ascii_digit)
                        && !tail.first().is_some_and(u8::is_ascii_digit) =>
                {
                    micros = (i64::from(d0 - b'0') * 100
                        + i64::from(d1 - b'0') * 10
                        + i64::from(d2 - b'0'))
                        * 1_000;
                    k += 3;
                }
                _ => {
                    let kept = (start + 6).min(b.len());
                    while k < kept && b[k].is_ascii_digit() {
                        micros = micros * 10 + i64::from(b[k] - b'0');
                        k += 1;
                    }
                    micros *= [1_000_000, 100_000, 10_000, 1_000, 100, 10, 1][k - start];
                    while k < b.len() && b[k].is_ascii_digit() {
                        k += 1;
                    }
                }
            }
            if k == start {
                return Err(c.syntax("a digit after '.'", k));
            }
            fraction = &b[start..k];
            i = k;
        }
        if hour == 24 {
            if minute != 0 || second != 0 || fraction.iter().any(|&d| d != b'0') {
                return Err(DateTimeError::EndOfDay);
            }
        } else if hour > 23 {
            return Err(DateTimeError::Hour(hour));
        }
        if minute > 59 {
            return Err(DateTimeError::Minute(minute));
        }
        if second > 59 {
            return Err(DateTimeError::Second(second));
        }
        second_of_day = i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
    }

    let mut wall_in = None;
    let offset_seconds: i64 = match b[i..] {
        [] => match naive {
            Naive::Utc => 0,
            Naive::Reject => return Err(DateTimeError::Naive),
            Naive::Local(zone) => {
                wall_in = Some(zone);
                0
            }
        },
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2]
            if [h1, h2, m1, m2].iter().all(u8::is_ascii_digit) =>
        {
            let hours = (h1 - b'0') * 10 + (h2 - b'0');
            let minutes = (m1 - b'0') * 10 + (m2 - b'0');
            if minutes > 59 || hours > 14 || (hours == 14 && minutes != 0) {
                return Err(DateTimeError::Offset {
                    sign: char::from(sign),
                    hours,
                    minutes,
                });
            }
            let magnitude = i64::from(hours) * 3600 + i64::from(minutes) * 60;
            if sign == b'-' {
                -magnitude
            } else {
                magnitude
            }
        }
        _ => return Err(c.zone_error(i)),
    };

    // |year| < 10^9, so the seconds fit an i64 easily; the microseconds may not.
    let seconds = days_from_civil(year, month, day) * 86_400 + second_of_day - offset_seconds;
    let us = match seconds.checked_mul(US_PER_SEC) {
        Some(us) => us.checked_add(micros).ok_or(DateTimeError::OutOfRange),
        None => near_the_edge(seconds, micros),
    }?;
    Ok(wall_in.map_or(us, |zone| zone.utc_of_wall(us)))
}

/// The instant of the usual shapes `YYYY-MM-DDThh:mm:ss[.f…](Z|±hh:mm)` with every field in
/// range (any number of fraction digits; zone-less too when `naive_utc`), or `None` for
/// anything else, valid or not (the caller then runs the full parser, which gives the same
/// instant for these shapes). Word-at-a-time digit checks and selects instead of branches:
/// in real data the fraction length and the zone change from one value to the next, and a
/// mispredicted branch costs more than reading a field.
#[inline(always)]
fn parse_common(b: &[u8], naive_utc: bool) -> Option<i64> {
    const DATE: [u64; 2] = template(b"dddd-dd-");
    const DAY_HOUR_MINUTE: [u64; 2] = template(b"ddTdd:dd");
    const TIME: [u64; 2] = template(b"dd:dd:dd");
    const DIGITS: [u64; 2] = template(b"dddddddd");
    const OFFSET: [u64; 2] = template(b"+dd:dd\0\0");
    const ZEROS: u64 = u64::from_le_bytes(*b"00000000");
    /// The day count of 1970-01-01 on the scale used below (years shifted by one era).
    const EPOCH: u32 = shifted_days(1969 + 400, 306) as u32 + 1;
    let load = |s: &[u8]| {
        let mut w = [0u8; 8];
        w.copy_from_slice(s);
        u64::from_le_bytes(w)
    };
    // The fields are read here rather than through `common_prefix`: no `Fields` to build, so
    // everything stays in registers.
    let head: &[u8; 19] = b.first_chunk()?;
    let (a, d, t) = (load(&head[..8]), load(&head[8..16]), load(&head[11..19]));
    if (mismatch(a, DATE) | mismatch(d, DAY_HOUR_MINUTE) | mismatch(t, TIME)) != 0 {
        return None;
    }
    // The zone, from the end: `Z`, `±hh:mm` or none.
    let n = b.len();
    // The last 6 bytes, from one 8-byte load (the input has at least 19).
    let tail = u64::from_le_bytes(*b[n - 8..].first_chunk()?) >> 16;
    // The sign is checked apart: the template holds `+` in its place. `&`, not `&&`: the
    // zone changes from value to value, and each of these tests would be a branch missed.
    let sign = tail as u8;
    let offset_ok = (n >= 25)
        & (mismatch((tail & !0xFF) | u64::from(b'+'), OFFSET) == 0)
        & ((sign == b'+') | (sign == b'-'));
    let z = b[n - 1] == b'Z';
    let zone_len = 6 * usize::from(offset_ok) + usize::from(z & !offset_ok);
    if zone_len == 0 && !naive_utc {
        return None;
    }
    let p = pairs(tail);
    let (oh, om) = (i64::from(lane(p, 1)), i64::from(lane(p, 4)));
    let magnitude = oh * 3600 + om * 60;
    let signed = if sign == b'-' { -magnitude } else { magnitude };
    let offset = signed & -i64::from(offset_ok);
    let offset_in_range = !offset_ok | ((om <= 59) & (oh * 60 + om <= 14 * 60));
    // The fraction: `.` and at least one digit; digits past the sixth are only checked
    // (truncation toward the past). The first (up to) 8 digits come from one load of the 8
    // bytes they end, shifted down to the low lanes, the lanes above them '0's (missing digits
    // count as zeros); loading them byte by byte into a padded word stalled on the store.
    // Without a fraction the load is made anyway (when the bytes are there) and not used.
    let end = n - zone_len;
    let has_fraction = end > 19;
    let k = end.saturating_sub(20).min(8);
    let w = if n >= 21 {
        let x = u64::from_le_bytes(*b[12 + k.max(1)..].first_chunk()?);
        let w = (x >> (8 * (8 - k.max(1)))) | ZEROS.checked_shl(8 * k as u32).unwrap_or(0);
        if has_fraction {
            w
        } else {
            ZEROS
        }
    } else {
        ZEROS
    };
    let fraction_ok = !has_fraction
        | ((b.get(19) == Some(&b'.'))
            & (end > 20)
            & (mismatch(w, DIGITS) == 0)
            & b[end.clamp(19, 28)..end].iter().all(u8::is_ascii_digit));
    if !fraction_ok {
        return None;
    }
    let q = pairs(w);
    let micros =
        i64::from(lane(q, 0)) * 10_000 + i64::from(lane(q, 2)) * 100 + i64::from(lane(q, 4));
    let (a, d, t) = (pairs(a), pairs(d), pairs(t));
    let year = u32::from(lane(a, 0)) * 100 + u32::from(lane(a, 2));
    let (month, day) = (lane(a, 5), lane(d, 0));
    let (hour, minute, second) = (lane(d, 3), lane(d, 6), lane(t, 6));
    // Without branches: months and days of random instants are not predictable.
    // Bits 2m..2m+1 hold (days in month m) - 28 for a common year; Feb gains the leap day.
    let short = (0x03BB_EECC_u32 >> (2 * u32::from(month & 15))) & 3;
    let leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0));
    let last_day = 28 + short as u8 + u8::from(leap & (month == 2));
    let in_range = (month.wrapping_sub(1) < 12)
        & (day.wrapping_sub(1) < last_day)
        & (hour <= 23)
        & (minute <= 59)
        & (second <= 59)
        & offset_in_range;
    if !in_range {
        return None;
    }
    // `days_from_civil` for years 0..=9999, in u32 and without its clamp.
    let jan_or_feb = month <= 2;
    let y = year + 400 - u32::from(jan_or_feb);
    let m = u32::from(if jan_or_feb { month + 9 } else { month - 3 });
    let days = y * 365 + y / 4 - y / 100 + y / 400 + (153 * m + 2) / 5 + u32::from(day);
    let seconds = (i64::from(days) - i64::from(EPOCH)) * 86_400
        + i64::from(u32::from(hour) * 3600 + u32::from(minute) * 60 + u32::from(second))
        - offset;
    // Four-digit years: far from overflowing.
    Some(seconds * US_PER_SEC + micros)
}

/// Values per parallel task (a whole number of bitmap words).
const CHUNK: usize = 1 << 14;

/// Instants of a column of values, in Arrow's layout.
#[derive(Debug)]
pub struct Instants {
    /// Microseconds since the epoch (0 where the value is null or invalid).
    pub values: Vec<i64>,
    /// Validity bitmap: bit `i % 64` of word `i / 64` is set where value `i` parsed; bits past
    /// the end are clear.
    pub valid: Vec<u64>,
    /// How many values are null or invalid.
    pub invalid: usize,
}

/// Parses `n` values, `get(i)` giving the bytes of value `i` (`None` for a null), each as
/// [`parse_xsd_datetime`] would; in parallel on the rayon pool.
pub fn parse_many<'a, F>(n: usize, get: F, naive: Naive<'_>) -> Instants
where
    F: Fn(usize) -> Option<&'a [u8]> + Sync,
{
    use rayon::prelude::*;
    let naive_utc = matches!(naive, Naive::Utc);
    let words = n.div_ceil(64);
    let mut values = Vec::with_capacity(n);
    let mut valid = Vec::with_capacity(words);
    let invalid = values.spare_capacity_mut()[..n]
        .par_chunks_mut(CHUNK)
        .zip(valid.spare_capacity_mut()[..words].par_chunks_mut(CHUNK / 64))
        .enumerate()
        .map(|(c, (values, words))| {
            let mut invalid = 0;
            for (w, (values, word)) in values.chunks_mut(64).zip(words).enumerate() {
                let first = c * CHUNK + w * 64;
                let mut bits = 0u64;
                for (k, out) in values.iter_mut().enumerate() {
                    let us = get(first + k).and_then(|b| {
                        parse_common(b, naive_utc).or_else(|| parse_bytes(b, naive).ok())
                    });
                    bits |= u64::from(us.is_some()) << k;
                    out.write(us.unwrap_or(0));
                }
                invalid += values.len() - bits.count_ones() as usize;
                word.write(bits);
            }
            invalid
        })
        .sum();
    // SAFETY: the loops above wrote each of the `n` values and `words` words (the chunks of
    // both cover them exactly: CHUNK values per CHUNK / 64 words).
    unsafe {
        values.set_len(n);
        valid.set_len(words);
    }
    Instants {
        values,
        valid,
        invalid,
    }
}

/// Why [`parse_array`] has no result (a value that does not parse is a null, not an error).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("values must be strings, not {0}")]
pub struct NotStrings(pub DataType);

/// [`parse_many`] of a string array: a `timestamp[us, UTC]` array, null where the value is
/// null or not a valid `xsd:dateTime` / `xsd:date` (no bitmap when every value parsed).
pub fn parse_array(
    values: &dyn Array,
    naive: Naive<'_>,
) -> Result<TimestampMicrosecondArray, NotStrings> {
    let strings = Strings::try_new(values).ok_or_else(|| NotStrings(values.data_type().clone()))?;
    let n = strings.len();
    let parsed = match strings {
        Strings::Utf8(a) => parse_many(n, |i| a.is_valid(i).then(|| a.value(i).as_bytes()), naive),
        Strings::Large(a) => parse_many(n, |i| a.is_valid(i).then(|| a.value(i).as_bytes()), naive),
        Strings::View(a) => parse_many(n, |i| a.is_valid(i).then(|| a.value(i).as_bytes()), naive),
    };
    let valid = BooleanBuffer::new(Buffer::from_vec(parsed.valid), 0, n);
    let nulls = (parsed.invalid > 0).then(|| NullBuffer::new(valid));
    Ok(
        TimestampMicrosecondArray::new(ScalarBuffer::from(parsed.values), nulls)
            .with_timezone("UTC"),
    )
}

/// `seconds` µs + `micros` where `seconds` µs alone overflows: near i64::MIN only the sum fits.
#[cold]
fn near_the_edge(seconds: i64, micros: i64) -> Result<i64, DateTimeError> {
    let us = i128::from(seconds) * i128::from(US_PER_SEC) + i128::from(micros);
    i64::try_from(us).map_err(|_| DateTimeError::OutOfRange)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_array_nulls_what_does_not_parse() {
        use arrow_array::{Int64Array, StringViewArray};
        let values = StringViewArray::from(vec![
            Some("2023-05-12T14:00:00+02:00"),
            None,
            Some("not a date"),
            Some("2023-05-12"),
            Some("2023-05-12T00:00:00"),
        ]);
        let parsed = parse_array(&values, Naive::Reject).expect("strings");
        assert_eq!(parsed.timezone(), Some("UTC"));
        let got: Vec<Option<i64>> = parsed.iter().collect();
        // Zone-less values are refused with `Naive::Reject`.
        assert_eq!(
            got,
            [Some(ok("2023-05-12T12:00:00Z")), None, None, None, None]
        );
        let utc = parse_array(&values.slice(3, 2), Naive::Utc).expect("strings");
        assert!(utc.nulls().is_none());
        assert_eq!(utc.value(0), ok("2023-05-12Z"));
        assert_eq!(utc.value(1), ok("2023-05-12T00:00:00Z"));
        let err = parse_array(&Int64Array::from(vec![1]), Naive::Utc).expect_err("an error");
        assert_eq!(err.to_string(), "values must be strings, not Int64");
    }

    fn ok(s: &str) -> i64 {
        parse_xsd_datetime(s, Naive::Reject).expect(s)
    }

    fn err(s: &str) -> DateTimeError {
        match parse_xsd_datetime(s, Naive::Utc) {
            Ok(v) => panic!("{s:?} should be rejected, got {v}"),
            Err(e) => e,
        }
    }

    #[test]
    fn typical_values_match_python_datetime() {
        // Constants from CPython datetime.
        assert_eq!(ok("2023-05-12T14:00:00Z"), 1_683_900_000_000_000);
        assert_eq!(ok("2022-11-23T08:15:00.000Z"), 1_669_191_300_000_000);
        assert_eq!(ok("2023-05-12T00:30:00+02:00"), 1_683_844_200_000_000);
        assert_eq!(ok("2024-02-29T12:00:00-05:00"), 1_709_226_000_000_000);
        assert_eq!(ok("0001-01-01T00:00:00Z"), -62_135_596_800_000_000);
        assert_eq!(ok("9999-12-31T23:59:59.999999Z"), 253_402_300_799_999_999);
        assert_eq!(ok("1970-01-01T00:00:00Z"), 0);
    }

    #[test]
    fn offset_crossing_midnight_is_the_previous_utc_day() {
        let us = ok("2023-05-12T00:30:00+02:00");
        assert_eq!(us, ok("2023-05-11T22:30:00Z"));
        assert_eq!(us.div_euclid(US_PER_DAY), days_from_civil(2023, 5, 11));
    }

    #[test]
    fn zones() {
        let utc = ok("2023-05-12T14:00:00Z");
        assert_eq!(ok("2023-05-12T14:00:00-00:00"), utc);
        assert_eq!(ok("2023-05-12T14:00:00+00:00"), utc);
        assert_eq!(ok("2023-05-13T04:00:00+14:00"), utc);
        assert_eq!(ok("2023-05-12T00:00:00-14:00"), utc);
        assert_eq!(ok("2023-05-12T19:30:00+05:30"), utc);
        assert!(matches!(
            err("2023-05-12T14:00:00+14:01"),
            DateTimeError::Offset { .. }
        ));
        assert!(matches!(
            err("2023-05-12T14:00:00+15:00"),
            DateTimeError::Offset { .. }
        ));
        assert!(matches!(
            err("2023-05-12T14:00:00+01:60"),
            DateTimeError::Offset { .. }
        ));
        for bad in [
            "+0100", "+1:00", "+01", "+01:0", "z", "UTC", "+01:00Z", "Z ",
        ] {
            let s = format!("2023-05-12T14:00:00{bad}x");
            assert!(parse_xsd_datetime(&s, Naive::Utc).is_err(), "{s}");
        }
        assert_eq!(
            err("2023-05-12T14:00:00+15:00").to_string(),
            "invalid xsd:dateTime: timezone offset +15:00 out of range"
        );
    }

    #[test]
    fn naive_values() {
        let s = "2023-05-12T14:00:00";
        assert_eq!(parse_xsd_datetime(s, Naive::Utc), Ok(1_683_900_000_000_000));
        assert_eq!(
            parse_xsd_datetime(s, Naive::Reject),
            Err(DateTimeError::Naive)
        );
        assert_eq!(
            DateTimeError::Naive.to_string(),
            "xsd:dateTime without a timezone (naive=\"reject\")"
        );
        assert_eq!(
            parse_xsd_datetime("2023-05-12", Naive::Utc),
            Ok(days_from_civil(2023, 5, 12) * US_PER_DAY)
        );
        assert_eq!(
            parse_xsd_datetime("2023-05-12", Naive::Reject),
            Err(DateTimeError::Naive)
        );
    }

    #[test]
    fn fractions_truncate_toward_the_past() {
        let base = ok("2023-05-12T14:00:00Z");
        assert_eq!(ok("2023-05-12T14:00:00.5Z"), base + 500_000);
        assert_eq!(ok("2023-05-12T14:00:00.123456789999Z"), base + 123_456);
        assert_eq!(ok("2023-05-12T14:00:00.999999999999Z"), base + 999_999);
        assert_eq!(ok("2023-05-12T14:00:00.000000999Z"), base);
        // Before 1970 the floor is still toward the past.
        assert_eq!(ok("1969-12-31T23:59:59.9999999Z"), -1);
        assert_eq!(ok("1969-12-31T23:59:59.000000001Z"), -1_000_000);
        assert_eq!(
            err("2023-05-12T14:00:00.Z"),
            DateTimeError::Syntax {
                expected: "a digit after '.'",
                at: 20
            }
        );
    }

    #[test]
    fn end_of_day_24_00_00() {
        assert_eq!(ok("2023-12-31T24:00:00Z"), ok("2024-01-01T00:00:00Z"));
        assert_eq!(ok("2023-12-31T24:00:00.000Z"), ok("2024-01-01T00:00:00Z"));
        assert_eq!(ok("2024-02-28T24:00:00+01:00"), ok("2024-02-28T23:00:00Z"));
        assert_eq!(err("2023-12-31T24:00:01Z"), DateTimeError::EndOfDay);
        assert_eq!(err("2023-12-31T24:01:00Z"), DateTimeError::EndOfDay);
        assert_eq!(err("2023-12-31T24:00:00.0000001Z"), DateTimeError::EndOfDay);
    }

    #[test]
    fn dates_are_midnight_in_their_zone() {
        assert_eq!(ok("2000-02-29Z"), 951_782_400_000_000);
        assert_eq!(ok("2023-05-12+02:00"), ok("2023-05-11T22:00:00Z"));
        assert_eq!(ok("2023-05-12-05:00"), ok("2023-05-12T05:00:00Z"));
        assert!(parse_xsd_datetime("2023-05-12T", Naive::Utc).is_err());
    }

    #[test]
    fn leap_years() {
        assert!(ok("2024-02-29T00:00:00Z") > 0);
        assert!(ok("2000-02-29T00:00:00Z") > 0);
        assert_eq!(
            err("2100-02-29T00:00:00Z"),
            DateTimeError::Day {
                year: 2100,
                month: 2,
                day: 29
            }
        );
        assert!(matches!(
            err("2023-02-29T00:00:00Z"),
            DateTimeError::Day { .. }
        ));
        assert!(matches!(
            err("2024-02-30T00:00:00Z"),
            DateTimeError::Day { .. }
        ));
        assert!(matches!(
            err("2023-04-31T00:00:00Z"),
            DateTimeError::Day { .. }
        ));
        // Proleptic: year 0 and -4 are leap, -1 and -100 are not.
        assert!(parse_xsd_datetime("0000-02-29Z", Naive::Utc).is_ok());
        assert!(parse_xsd_datetime("-0004-02-29Z", Naive::Utc).is_ok());
        assert!(parse_xsd_datetime("-0001-02-29Z", Naive::Utc).is_err());
        assert!(parse_xsd_datetime("-0100-02-29Z", Naive::Utc).is_err());
        assert!(parse_xsd_datetime("-0400-02-29Z", Naive::Utc).is_ok());
    }

    #[test]
    fn years_beyond_four_digits_and_before_the_era() {
        // 0000-12-31 + 1 day = 0001-01-01; -0001 is the year before 0000.
        assert_eq!(
            ok("0000-12-31T00:00:00Z") + US_PER_DAY,
            ok("0001-01-01T00:00:00Z")
        );
        assert_eq!(ok("-0000-01-01T00:00:00Z"), ok("0000-01-01T00:00:00Z"));
        assert_eq!(
            ok("-0001-01-01T00:00:00Z") + 365 * US_PER_DAY,
            ok("0000-01-01T00:00:00Z")
        );
        assert_eq!(ok("10000-01-01T00:00:00Z"), 253_402_300_800_000_000);
        assert_eq!(
            ok("-0044-03-15T12:00:00Z"),
            days_from_civil(-44, 3, 15) * US_PER_DAY + 12 * 3600 * US_PER_SEC
        );
        assert_eq!(err("02023-05-12T00:00:00Z"), DateTimeError::YearLeadingZero);
        assert_eq!(
            err("-02023-05-12T00:00:00Z"),
            DateTimeError::YearLeadingZero
        );
        // The i64 edges: both extremes parse, one microsecond more does not.
        assert_eq!(ok("294247-01-10T04:00:54.775807Z"), i64::MAX);
        assert_eq!(ok("-290308-12-21T19:59:05.224192Z"), i64::MIN);
        assert_eq!(
            err("294247-01-10T04:00:54.775808Z"),
            DateTimeError::OutOfRange
        );
        assert_eq!(
            err("-290308-12-21T19:59:05.224191Z"),
            DateTimeError::OutOfRange
        );
        assert_eq!(err("999999999-01-01T00:00:00Z"), DateTimeError::OutOfRange);
        assert_eq!(
            err("99999999999999999999999-01-01T00:00:00Z"),
            DateTimeError::OutOfRange
        );
    }

    #[test]
    fn whitespace_is_collapsed_at_the_edges_only() {
        let v = ok("2023-05-12T14:00:00Z");
        assert_eq!(ok(" \t\r\n2023-05-12T14:00:00Z\n "), v);
        assert!(matches!(
            err(" 2023-05-12 T14:00:00Z"),
            DateTimeError::Syntax { at: 11, .. }
        ));
        assert_eq!(err("   "), DateTimeError::Empty);
        assert_eq!(err(""), DateTimeError::Empty);
    }

    #[test]
    fn rejections() {
        assert_eq!(err("2023-13-01T00:00:00Z"), DateTimeError::Month(13));
        assert_eq!(
            DateTimeError::Month(13).to_string(),
            "invalid xsd:dateTime: month 13 out of range"
        );
        assert_eq!(err("2023-00-01T00:00:00Z"), DateTimeError::Month(0));
        assert!(matches!(
            err("2023-01-00T00:00:00Z"),
            DateTimeError::Day { .. }
        ));
        assert_eq!(err("2023-05-12T25:00:00Z"), DateTimeError::Hour(25));
        assert_eq!(err("2023-05-12T14:60:00Z"), DateTimeError::Minute(60));
        assert_eq!(err("2023-05-12T23:59:60Z"), DateTimeError::Second(60));
        for s in [
            "2023-5-1",
            "2023-5-01T00:00:00Z",
            "2023-05-1T00:00:00Z",
            "2023-05-12 14:00:00Z",
            "2023-05-1214:00:00Z",
            "2023-05-12t14:00:00Z",
            "2023-05-12T14:00:00Zjunk",
            "2023-05-12T14:00:00Z 0",
            "2023-05-12T14:00Z",
            "2023-05-12T14:00:0Z",
            "2023-05-12T1:00:00Z",
            "2023-05-12T14-00-00Z",
            "23-05-12T14:00:00Z",
            "+2023-05-12T14:00:00Z",
            "--2023-05-12T14:00:00Z",
            "2023/05/12",
            "2023-05-12T14:00:00,5Z",
            "２０２３-05-12T14:00:00Z",
            "2023-05-12T14:00:00\u{a0}",
            "-",
            "T",
            "2023",
            "2023-",
            "2023-05",
            "2023-05-",
            "2023-05-12T14:00:00+",
            "2023-05-12T14:00:00+01:",
        ] {
            assert!(parse_xsd_datetime(s, Naive::Utc).is_err(), "{s:?} accepted");
        }
    }

    #[test]
    fn never_panics_on_prefixes_and_byte_noise() {
        let samples = [
            "2023-05-12T14:00:00.123+01:00",
            "-290308-12-21T19:59:05.224192Z",
            "2023-12-31T24:00:00Z",
        ];
        for s in samples {
            for end in 0..=s.len() {
                let _ = parse_xsd_datetime(&s[..end], Naive::Utc);
                let _ = parse_xsd_datetime(&s[end..], Naive::Reject);
            }
        }
        // Every single-byte substitution of a valid value (ASCII range, as &str needs UTF-8).
        let base = b"2023-05-12T14:00:00.5+01:00".to_vec();
        for pos in 0..base.len() {
            for c in 0u8..128 {
                let mut v = base.clone();
                v[pos] = c;
                let s = String::from_utf8(v).expect("ASCII");
                let _ = parse_xsd_datetime(&s, Naive::Utc);
            }
        }
    }

    /// The fast path either declines or agrees with the full parser.
    fn check_common(b: &[u8]) {
        for (naive_utc, naive) in [(false, Naive::Reject), (true, Naive::Utc)] {
            if let Some(us) = parse_common(b, naive_utc) {
                assert_eq!(
                    Ok(us),
                    parse_bytes(b, naive),
                    "{:?}",
                    String::from_utf8_lossy(b)
                );
            }
        }
    }

    #[test]
    fn the_common_shapes_take_the_fast_path() {
        for s in [
            "2023-05-12T14:00:00Z",
            "2023-05-12T14:00:00.123Z",
            "2023-05-12T14:00:00.123456Z",
            "2023-05-12T14:00:00+01:00",
            "2023-05-12T14:00:00.123-05:30",
            "2023-05-12T14:00:00.123456+14:00",
            "0000-02-29T00:00:00-14:00",
            "9999-12-31T23:59:59.999999Z",
            // Digits whose bits together exceed 9 (8 | 2, 9 | 4, …).
            "2023-05-12T14:00:00.923Z",
            "2023-05-12T14:00:00.987654-09:30",
            "2023-05-12T14:00:00+09:45",
            "2023-05-12T14:00:00.284+13:59",
            // Any number of fraction digits.
            "2023-05-12T14:00:00.5Z",
            "2023-05-12T14:00:00.12-01:00",
            "2023-05-12T14:00:00.1234+05:45",
            "2023-05-12T14:00:00.12345Z",
            "2023-05-12T14:00:00.1234567Z",
            "2023-05-12T14:00:00.12345678-14:00",
            "2023-05-12T14:00:00.123456789+00:00",
            "1969-12-31T23:59:59.99999999999999999999Z",
        ] {
            assert_eq!(
                parse_common(s.as_bytes(), false).map(Ok),
                Some(parse_xsd_datetime(s, Naive::Reject)),
                "{s}"
            );
        }
        // Zone-less values, when they are UTC.
        for s in ["2023-05-12T14:00:00", "2023-05-12T14:00:00.123"] {
            assert_eq!(parse_common(s.as_bytes(), false), None, "{s}");
            assert_eq!(
                parse_common(s.as_bytes(), true).map(Ok),
                Some(parse_xsd_datetime(s, Naive::Utc)),
                "{s}"
            );
        }
        // Valid but unusual shapes are left to the full parser.
        for s in [
            "2023-05-12T24:00:00Z",
            " 2023-05-12T14:00:00Z",
            "12023-05-12T14:00:00Z",
            "2023-05-12Z",
            "2023-05-12",
        ] {
            assert!(parse_xsd_datetime(s, Naive::Utc).is_ok(), "{s}");
            assert_eq!(parse_common(s.as_bytes(), true), None, "{s}");
        }
    }

    /// Random mixes of every field in and out of range, fractions of 0 to 12 digits and every
    /// kind of zone (offsets past ±14:00 too), with byte noise: the fast path declines or
    /// agrees with the full parser.
    #[test]
    fn the_fast_path_agrees_with_the_parser_on_random_mixes() {
        let mut rng = crate::testing::Rng(0xda7e);
        let mut taken = 0;
        for _ in 0..200_000 {
            let mut v = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                rng.below(10_000),
                rng.below(14),
                rng.below(33),
                rng.below(26),
                rng.below(61),
                rng.below(61)
            );
            let digits = rng.index(13);
            if digits > 0 || rng.index(4) == 0 {
                v.push('.');
                for _ in 0..digits {
                    v.push(char::from(b'0' + rng.below(10) as u8));
                }
            }
            match rng.index(4) {
                0 => v.push('Z'),
                1 => {}
                _ => {
                    let sign = if rng.index(2) == 0 { '+' } else { '-' };
                    v += &format!("{sign}{:02}:{:02}", rng.below(16), rng.below(61));
                }
            }
            let mut b = v.into_bytes();
            if rng.index(5) == 0 {
                let i = rng.index(b.len());
                b[i] = b"0123456789+-:.TZ z\x00"[rng.index(19)];
            }
            check_common(&b);
            taken += usize::from(parse_common(&b, true).is_some());
        }
        assert!(taken > 50_000, "the fast path took only {taken} values");
    }

    #[test]
    fn the_fast_path_agrees_with_the_parser_on_near_valid_values() {
        // Every one- and two-byte substitution of each shape (bytes that matter to the
        // parser), so every field goes out of range and every separator is broken.
        let alphabet = b"0123456789+-:.TZ z\x00";
        for base in [
            "2024-02-29T23:59:59Z",
            "2023-12-31T24:00:00.000Z",
            "2023-05-12T14:00:00.123456+14:00",
            "1999-09-30T09:09:09.999-09:59",
            "2000-02-29T00:00:00.5-00:30",
            "2023-05-12T14:00:00.12345678",
            "2100-02-28T12:34:56.1234567Z",
        ] {
            let base = base.as_bytes();
            for i in 0..base.len() {
                for &c in alphabet {
                    let mut v = base.to_vec();
                    v[i] = c;
                    check_common(&v);
                    for j in i + 1..base.len() {
                        for &d in b"019+:." {
                            let mut w = v.clone();
                            w[j] = d;
                            check_common(&w);
                        }
                    }
                }
                check_common(&base[..i]);
            }
        }
    }

    #[test]
    fn parse_many_matches_one_by_one() {
        let texts: Vec<String> = (0..1_000)
            .map(|i| match i % 5 {
                0 => format!("2023-01-{:02}T{:02}:00:00Z", i % 31 + 1, i % 25),
                1 => format!("2024-02-{:02}T12:00:00.{:03}+01:00", i % 31 + 1, i),
                2 => format!("-{:04}-03-01", i),
                3 => format!("2023-05-12T14:00:{:02}", i % 61),
                _ => "garbage".to_owned(),
            })
            .collect();
        for naive in [Naive::Utc, Naive::Reject] {
            let got = parse_many(
                texts.len() + 1,
                |i| texts.get(i).map(|s| s.as_bytes()),
                naive,
            );
            let mut invalid = 1;
            for (i, s) in texts.iter().enumerate() {
                let expected = parse_xsd_datetime(s, naive).ok();
                invalid += usize::from(expected.is_none());
                let valid = got.valid[i / 64] >> (i % 64) & 1 == 1;
                assert_eq!(valid.then_some(got.values[i]), expected, "{s}");
                assert!(valid || got.values[i] == 0);
            }
            // The last value is a null; no bit is set past the end.
            assert_eq!(got.valid.len(), 16);
            assert_eq!(got.valid[15] >> (1_000 % 64), 0);
            assert_eq!(got.invalid, invalid);
        }
    }

    #[test]
    fn civil_round_trip() {
        for days in
            (-800_000..800_000)
                .step_by(7)
                .chain([-MAX_DAYS, MAX_DAYS, -106_751_992, 106_751_991])
        {
            let (y, m, d) = civil_from_days(days);
            assert!((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m));
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(19_489), (2023, 5, 12));
        assert_eq!(civil_from_days(i64::MIN), civil_from_days(-MAX_DAYS));
        // Unvalidated fields give some day number, never a panic.
        for year in [i64::MIN, -1, 0, i64::MAX] {
            for month in [0, 1, 3, 12, 13, 255] {
                for day in [0, 1, 31, 255] {
                    let _ = days_from_civil(year, month, day);
                }
            }
        }
    }
}
