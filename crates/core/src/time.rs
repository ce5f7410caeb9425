//! NumericDate handling (RFC 7519 §2) and UTC dates for messages.

use alloc::format;
use alloc::string::String;
use serde_json::Value;

/// The latest NumericDate accepted: 9999-12-31T23:59:59Z. Later values (or `1e300`)
/// are refused as `claim-invalid` rather than silently saturated.
pub const MAX_NUMERIC_DATE: f64 = 253_402_300_799.0;

/// Reads a NumericDate claim: a finite JSON number in `0..=MAX_NUMERIC_DATE`.
/// Fractions are allowed by RFC 7519; `round_up` picks the strict direction
/// (down for `exp`, up for `nbf`/`iat`). The error is the human part of a message.
pub(crate) fn numeric_date(name: &str, v: &Value, round_up: bool) -> Result<u64, String> {
    let Value::Number(n) = v else {
        return Err(format!(
            "{name} must be a NumericDate (a JSON number of seconds since 1970), got {}",
            crate::json::kind(v)
        ));
    };
    if let Some(u) = n.as_u64() {
        if u as f64 <= MAX_NUMERIC_DATE {
            return Ok(u);
        }
    }
    match n.as_f64() {
        Some(f) if (0.0..=MAX_NUMERIC_DATE).contains(&f) => {
            let whole = f as u64; // in range, so the cast truncates exactly
            Ok(if round_up && (whole as f64) < f {
                whole + 1
            } else {
                whole
            })
        }
        _ => Err(format!(
            "{name} is {n}, outside the supported range 0 ..= {MAX_NUMERIC_DATE} (year 9999)"
        )),
    }
}

/// Formats unix seconds as an RFC 3339 UTC date, e.g. `2026-11-26T14:00:00Z`.
///
/// ```
/// assert_eq!(tessera_core::time::utc(0), "1970-01-01T00:00:00Z");
/// assert_eq!(tessera_core::time::utc(1_764_165_600), "2025-11-26T14:00:00Z");
/// ```
pub fn utc(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard
/// Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `utc(secs)` plus the raw number, as messages show times.
pub(crate) fn both(secs: u64) -> String {
    format!("{} ({secs})", utc(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numeric_dates() {
        assert_eq!(numeric_date("exp", &json!(10), false), Ok(10));
        assert_eq!(numeric_date("exp", &json!(10.7), false), Ok(10));
        assert_eq!(numeric_date("nbf", &json!(10.2), true), Ok(11));
        for bad in [
            json!("10"),
            json!(true),
            json!(null),
            json!(-1),
            json!(1e300),
            json!([1]),
        ] {
            assert!(numeric_date("exp", &bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn dates() {
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(253_402_300_799), "9999-12-31T23:59:59Z");
    }
}
