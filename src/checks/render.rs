//! Values as testdrive shows them. testdrive reads results in binary and prints each value
//! by its type (`decode_row` in Materialize's `src/testdrive/src/action/sql.rs`); the runner
//! reads the server's text form, so this turns that text, given the column's type OID, into
//! what testdrive would have printed: `t` → `true`, a timestamptz in UTC with ` UTC`, floats
//! as Rust prints them, numerics without trailing zeros, bytea ASCII-escaped, jsonb compact
//! with sorted keys, array elements never quoted. Types testdrive refuses (e.g. `name`,
//! lists, maps) keep their text form. Pure.

use k8s_openapi::jiff::{Timestamp, civil, tz::Offset};
use serde_json::Value;

/// The type OIDs rendered here (PostgreSQL's, and Materialize's unsigned integers).
pub mod oid {
    pub const BOOL: u32 = 16;
    pub const BYTEA: u32 = 17;
    pub const CHAR: u32 = 18;
    pub const FLOAT4: u32 = 700;
    pub const FLOAT8: u32 = 701;
    pub const DATE: u32 = 1082;
    pub const TIME: u32 = 1083;
    pub const TIMESTAMP: u32 = 1114;
    pub const TIMESTAMPTZ: u32 = 1184;
    pub const INTERVAL: u32 = 1186;
    pub const NUMERIC: u32 = 1700;
    pub const JSONB: u32 = 3802;
    pub const BOOL_ARRAY: u32 = 1000;
    pub const BYTEA_ARRAY: u32 = 1001;
    pub const INT2_ARRAY: u32 = 1005;
    pub const INT4_ARRAY: u32 = 1007;
    pub const TEXT_ARRAY: u32 = 1009;
    pub const VARCHAR_ARRAY: u32 = 1015;
    pub const INT8_ARRAY: u32 = 1016;
    pub const FLOAT4_ARRAY: u32 = 1021;
    pub const FLOAT8_ARRAY: u32 = 1022;
    pub const OID_ARRAY: u32 = 1028;
    pub const TIMESTAMP_ARRAY: u32 = 1115;
    pub const DATE_ARRAY: u32 = 1182;
    pub const TIME_ARRAY: u32 = 1183;
    pub const TIMESTAMPTZ_ARRAY: u32 = 1185;
    pub const INTERVAL_ARRAY: u32 = 1187;
    pub const NUMERIC_ARRAY: u32 = 1231;
    pub const UUID_ARRAY: u32 = 2951;
    pub const JSONB_ARRAY: u32 = 3807;
}

/// The element type of an array type testdrive prints (`None`: not one of those).
fn element_of(array: u32) -> Option<u32> {
    use oid::*;
    Some(match array {
        BOOL_ARRAY => BOOL,
        BYTEA_ARRAY => BYTEA,
        FLOAT4_ARRAY => FLOAT4,
        FLOAT8_ARRAY => FLOAT8,
        TIMESTAMP_ARRAY => TIMESTAMP,
        DATE_ARRAY => DATE,
        TIME_ARRAY => TIME,
        TIMESTAMPTZ_ARRAY => TIMESTAMPTZ,
        INTERVAL_ARRAY => INTERVAL,
        NUMERIC_ARRAY => NUMERIC,
        JSONB_ARRAY => JSONB,
        // Shown as they are.
        INT2_ARRAY | INT4_ARRAY | INT8_ARRAY | OID_ARRAY | TEXT_ARRAY | VARCHAR_ARRAY
        | UUID_ARRAY => 25,
        _ => return None,
    })
}

/// A value of type `oid` in the server's text form, as testdrive prints it. A text it cannot
/// read as that type is returned unchanged (the comparison then shows it).
pub fn value(oid: u32, text: &str) -> String {
    let rendered = match oid {
        oid::BOOL => match text {
            "t" => Some("true".to_string()),
            "f" => Some("false".to_string()),
            _ => None,
        },
        // `"char"`: testdrive reads it as an i8 and prints the number.
        oid::CHAR => text.bytes().next().map(|b| (b as i8).to_string()),
        oid::FLOAT4 => float(text).map(|f| (f as f32).to_string()),
        oid::FLOAT8 => float(text).map(|f| f.to_string()),
        oid::NUMERIC => Some(numeric(text)),
        oid::BYTEA => bytea(text),
        oid::TIME => time(text),
        oid::TIMESTAMP => timestamp(text),
        oid::TIMESTAMPTZ => timestamptz(text),
        oid::INTERVAL => Some(interval(text)),
        oid::JSONB => serde_json::from_str::<Value>(text).ok().map(|v| jsonb(&v)),
        other => match element_of(other) {
            Some(element) => array(text, element),
            None => None,
        },
    };
    rendered.unwrap_or_else(|| text.to_string())
}

fn float(text: &str) -> Option<f64> {
    // PostgreSQL's `Infinity` / `-Infinity` / `NaN`; Rust's parser takes them too.
    text.parse::<f64>().ok()
}

/// Standard notation without trailing fractional zeros (testdrive reduces the decimal).
fn numeric(text: &str) -> String {
    match text.split_once('.') {
        Some((int, frac)) if !text.contains(['e', 'E']) => {
            let frac = frac.trim_end_matches('0');
            let int = if int == "-0" && frac.is_empty() {
                "0"
            } else {
                int
            };
            if frac.is_empty() {
                int.to_string()
            } else {
                format!("{int}.{frac}")
            }
        }
        _ => text.to_string(),
    }
}

/// PostgreSQL's hex form (`\x68656c6c6f`) → the bytes, each as Rust's `escape_default`.
fn bytea(text: &str) -> Option<String> {
    let hex = text.strip_prefix("\\x")?;
    if hex.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    Some(
        bytes?
            .into_iter()
            .flat_map(std::ascii::escape_default)
            .map(char::from)
            .collect(),
    )
}

/// Fractional seconds as chrono prints them: none when zero, else the shortest of 3, 6 or 9
/// digits that is exact.
fn fraction(digits: &str) -> String {
    let digits = digits.trim_end_matches('0');
    if digits.is_empty() {
        return String::new();
    }
    let width = [3, 6, 9]
        .into_iter()
        .find(|w| digits.len() <= *w)
        .unwrap_or(9);
    format!(".{digits:0<width$}")
}

/// `HH:MM:SS[.f]` with chrono's fraction.
fn time(text: &str) -> Option<String> {
    let (hms, frac) = text.split_once('.').unwrap_or((text, ""));
    if hms.len() != 8 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(format!("{hms}{}", fraction(frac)))
}

fn timestamp(text: &str) -> Option<String> {
    let (date, t) = text.split_once(' ')?;
    if date.len() != 10 {
        return None;
    }
    Some(format!("{date} {}", time(t)?))
}

/// PostgreSQL's `2010-10-10 12:10:10.5+02` (in the session's time zone) → the same instant in
/// UTC, `2010-10-10 10:10:10.500 UTC`.
fn timestamptz(text: &str) -> Option<String> {
    let split = text.rfind(['+', '-']).filter(|i| *i > 10)?;
    let (local, offset) = text.split_at(split);
    let mut parts = offset[1..].split(':').map(|p| p.parse::<i32>().ok());
    let (h, m, s) = (
        parts.next()??,
        parts.next().unwrap_or(Some(0))?,
        parts.next().unwrap_or(Some(0))?,
    );
    let sign = if offset.starts_with('-') { -1 } else { 1 };
    let offset = Offset::from_seconds(sign * (h * 3600 + m * 60 + s)).ok()?;
    let civil: civil::DateTime = local.replace(' ', "T").parse().ok()?;
    let utc: Timestamp = offset.to_timestamp(civil).ok()?;
    let utc = utc
        .to_zoned(k8s_openapi::jiff::tz::TimeZone::UTC)
        .datetime();
    let whole = utc.strftime("%Y-%m-%d %H:%M:%S").to_string();
    let nanos = utc.subsec_nanosecond();
    let frac = if nanos == 0 {
        String::new()
    } else {
        fraction(&format!("{nanos:09}"))
    };
    Some(format!("{whole}{frac} UTC"))
}

/// PostgreSQL's interval style spells months `mon`/`mons`; Materialize's (testdrive's)
/// `month`/`months`.
fn interval(text: &str) -> String {
    text.split(' ')
        .map(|w| match w {
            "mon" => "month",
            "mons" => "months",
            w => w,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Compact, keys sorted, numbers in reduced standard notation (Materialize's jsonb).
fn jsonb(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let inner: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), jsonb(v)))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(jsonb).collect();
            format!("[{}]", inner.join(","))
        }
        Value::Number(n) => numeric(&n.to_string()),
        other => other.to_string(),
    }
}

/// A PostgreSQL array literal (`{a,"b c",NULL}`, nested `{{1,2},{3,4}}`) with each element
/// rendered as `element` and never quoted, as the `postgres_array` crate prints arrays.
fn array(text: &str, element: u32) -> Option<String> {
    let (dims, body) = match text.split_once('=') {
        Some((dims, body)) if text.starts_with('[') => (format!("{dims}="), body),
        _ => (String::new(), text),
    };
    let mut out = dims;
    let mut chars = body.chars().peekable();
    let mut depth = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '{' => {
                depth += 1;
                out.push('{');
            }
            '}' => {
                depth = depth.checked_sub(1)?;
                out.push('}');
            }
            ',' => out.push(','),
            '"' => {
                let mut item = String::new();
                loop {
                    match chars.next()? {
                        '\\' => item.push(chars.next()?),
                        '"' => break,
                        c => item.push(c),
                    }
                }
                out.push_str(&value(element, &item));
            }
            c => {
                let mut item = c.to_string();
                while let Some(&n) = chars.peek() {
                    if matches!(n, ',' | '}') {
                        break;
                    }
                    item.push(n);
                    chars.next();
                }
                if item == "NULL" {
                    out.push_str("NULL");
                } else {
                    out.push_str(&value(element, &item));
                }
            }
        }
    }
    (depth == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::{oid::*, value};

    #[test]
    fn scalars_render_as_testdrive_prints_them() {
        let cases: &[(u32, &str, &str)] = &[
            (BOOL, "t", "true"),
            (BOOL, "f", "false"),
            (CHAR, "a", "97"),
            (FLOAT8, "1", "1"),
            (FLOAT8, "1.5", "1.5"),
            (FLOAT8, "1e+21", "1000000000000000000000"),
            (FLOAT8, "1e-07", "0.0000001"),
            (FLOAT8, "Infinity", "inf"),
            (FLOAT8, "-Infinity", "-inf"),
            (FLOAT8, "NaN", "NaN"),
            (FLOAT8, "-0", "-0"),
            (FLOAT4, "0.1", "0.1"),
            (
                FLOAT4,
                "3.4028235e+38",
                "340282350000000000000000000000000000000",
            ),
            (NUMERIC, "1.50", "1.5"),
            (NUMERIC, "100", "100"),
            (NUMERIC, "2.000", "2"),
            (NUMERIC, "-0.0", "0"),
            (NUMERIC, "NaN", "NaN"),
            (BYTEA, "\\x68656c6c6f", "hello"),
            (BYTEA, "\\x00ff0a275c", "\\x00\\xff\\n\\'\\\\"),
            (BYTEA, "\\x", ""),
            (DATE, "2010-10-10", "2010-10-10"),
            (TIME, "10:10:10", "10:10:10"),
            (TIME, "10:10:10.5", "10:10:10.500"),
            (TIME, "10:10:10.1234", "10:10:10.123400"),
            (TIMESTAMP, "2010-10-10 10:10:10", "2010-10-10 10:10:10"),
            (
                TIMESTAMP,
                "2010-10-10 10:10:10.000001",
                "2010-10-10 10:10:10.000001",
            ),
            (
                TIMESTAMPTZ,
                "2010-10-10 10:10:10+00",
                "2010-10-10 10:10:10 UTC",
            ),
            (
                TIMESTAMPTZ,
                "2010-10-10 12:10:10.25+02",
                "2010-10-10 10:10:10.250 UTC",
            ),
            (
                TIMESTAMPTZ,
                "2010-10-10 00:10:10-05:30",
                "2010-10-10 05:40:10 UTC",
            ),
            (
                INTERVAL,
                "1 year 2 mons 5 days 03:04:00",
                "1 year 2 months 5 days 03:04:00",
            ),
            (INTERVAL, "1 mon", "1 month"),
            (
                JSONB,
                r#"{"b": [1, 2.50], "a": {"y": null, "x": "s"}}"#,
                r#"{"a":{"x":"s","y":null},"b":[1,2.5]}"#,
            ),
            (JSONB, "1.0", "1"),
            // Types shown as they are, and text a type cannot be read as.
            (25, "text with  spaces", "text with  spaces"),
            (19, "a_name", "a_name"),
            (BOOL, "maybe", "maybe"),
        ];
        for (oid, text, want) in cases {
            assert_eq!(value(*oid, text), *want, "type {oid}: {text}");
        }
    }

    #[test]
    fn arrays_render_unquoted_with_their_elements_rendered() {
        let cases: &[(u32, &str, &str)] = &[
            (
                TEXT_ARRAY,
                r#"{a,"hello world",NULL,"with \"quote\""}"#,
                r#"{a,hello world,NULL,with "quote"}"#,
            ),
            (INT4_ARRAY, "{{1,2},{3,4}}", "{{1,2},{3,4}}"),
            (INT4_ARRAY, "[0:1]={1,2}", "[0:1]={1,2}"),
            (INT4_ARRAY, "{}", "{}"),
            (BOOL_ARRAY, "{t,f,NULL}", "{true,false,NULL}"),
            (NUMERIC_ARRAY, "{1.50,2}", "{1.5,2}"),
            (
                TIMESTAMPTZ_ARRAY,
                r#"{"2010-10-10 10:10:10+00"}"#,
                "{2010-10-10 10:10:10 UTC}",
            ),
            (TEXT_ARRAY, "{unterminated", "{unterminated"),
        ];
        for (oid, text, want) in cases {
            assert_eq!(value(*oid, text), *want, "type {oid}: {text}");
        }
    }
}
