//! One roster CSV file into checked [`RosterRecord`]s, with every problem
//! reported by file, line and column. Columns may come in any order, quoted
//! or not; a UTF-8 byte-order mark is ignored; `metadata.*` and `ext_*`
//! columns are kept as metadata.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use lap_schemas::{RosterRecord, RosterStatus};

use super::spec::{FileSpec, Format, common_formats, is_extension};
use super::{FileMode, FileSummary, Issue, Severity};

/// What the rows of one file are checked against and stamped with.
pub(crate) struct FileContext<'a> {
    pub spec: &'a FileSpec,
    pub file: String,
    pub mode: FileMode,
    pub tenant: &'a str,
    pub spec_version: &'a str,
}

/// Reads `bytes` as the file `ctx` describes; pushes accepted records to
/// `out` and problems to `issues`, and returns the file's counts.
pub(crate) fn read(
    ctx: &FileContext<'_>,
    bytes: &[u8],
    out: &mut Vec<RosterRecord>,
    issues: &mut Vec<Issue>,
    progress: &mut dyn FnMut(u64),
) -> FileSummary {
    let mut summary = FileSummary {
        file: ctx.file.clone(),
        mode: ctx.mode,
        read: 0,
        loaded: 0,
        rejected: 0,
    };
    let issue = |line: u64, column: Option<&str>, severity, reason: String| Issue {
        file: ctx.file.clone(),
        line,
        column: column.map(str::to_owned),
        severity,
        reason,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut records = reader.byte_records();
    let header = match records.next() {
        None => {
            issues.push(issue(1, None, Severity::Warning, "empty file".into()));
            return summary;
        }
        Some(Err(e)) => {
            issues.push(issue(
                1,
                None,
                Severity::Error,
                format!("unreadable header: {e}"),
            ));
            return summary;
        }
        Some(Ok(h)) => header_names(ctx.spec, &h),
    };
    let missing_needed: Vec<&str> = std::iter::once(ctx.spec.key)
        .chain(ctx.spec.needed.iter().copied())
        .filter(|c| !header.contains(&c.to_string()))
        .collect();
    for c in &missing_needed {
        issues.push(issue(
            1,
            Some(c),
            Severity::Error,
            "column is missing from the header; lap needs it, so every row is rejected".into(),
        ));
    }
    for c in ctx.spec.expected {
        if !header.iter().any(|h| h == c) {
            issues.push(issue(
                1,
                Some(c),
                Severity::Warning,
                "column required by OneRoster is missing from the header".into(),
            ));
        }
    }
    let mut seen: HashMap<String, u64> = HashMap::new();
    for record in records {
        summary.read += 1;
        let (line, result) = match record {
            Ok(r) => {
                progress(r.as_slice().len() as u64 + r.len() as u64);
                let line = r.position().map_or(0, |p| p.line());
                (line, check_row(ctx, &header, &r, line, &mut seen, issues))
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                (line, Err((None, format!("unreadable row: {e}"))))
            }
        };
        match result {
            Ok(rec) if missing_needed.is_empty() => {
                summary.loaded += 1;
                out.push(rec);
            }
            Ok(_) => summary.rejected += 1,
            Err((column, reason)) => {
                summary.rejected += 1;
                issues.push(issue(line, column.as_deref(), Severity::Error, reason));
            }
        }
    }
    summary
}

/// Header names, BOM and surrounding spaces removed, old names mapped to
/// current ones.
fn header_names(spec: &FileSpec, h: &csv::ByteRecord) -> Vec<String> {
    h.iter()
        .enumerate()
        .map(|(i, raw)| {
            let raw = if i == 0 {
                raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw)
            } else {
                raw
            };
            let name = String::from_utf8_lossy(raw).trim().to_string();
            spec.aliases
                .iter()
                .find(|(old, _)| *old == name)
                .map_or(name, |(_, new)| new.to_string())
        })
        .collect()
}

type RowError = (Option<String>, String);

fn check_row(
    ctx: &FileContext<'_>,
    header: &[String],
    row: &csv::ByteRecord,
    line: u64,
    seen: &mut HashMap<String, u64>,
    issues: &mut Vec<Issue>,
) -> Result<RosterRecord, RowError> {
    if row.len() != header.len() {
        return Err((
            None,
            format!(
                "row has {} values but the header has {} columns (a stray comma or an unquoted value?)",
                row.len(),
                header.len()
            ),
        ));
    }
    let mut values: BTreeMap<&str, String> = BTreeMap::new();
    for (name, raw) in header.iter().zip(row.iter()) {
        let value = std::str::from_utf8(raw).map_err(|_| {
            (
                Some(name.clone()),
                "value is not UTF-8; save the file as UTF-8".to_string(),
            )
        })?;
        if !value.is_empty() {
            values.insert(name.as_str(), value.to_string());
        }
    }
    let spec = ctx.spec;
    let col = |c: &str| Some(c.to_string());
    let sourced_id = values
        .get(spec.key)
        .cloned()
        .ok_or_else(|| (col(spec.key), "empty; every row needs one".to_string()))?;
    if let Some(first) = seen.get(&sourced_id) {
        return Err((
            col(spec.key),
            format!("`{sourced_id}` already appears on line {first}"),
        ));
    }
    for c in spec.needed {
        if !values.contains_key(c) && header.iter().any(|h| h == c) {
            return Err((col(c), "empty; lap needs this value".into()));
        }
    }
    for (c, format) in common_formats().iter().chain(spec.formats) {
        if let Some(v) = values.get_mut(c) {
            *v = check_format(v, *format).map_err(|reason| (col(c), reason))?;
        }
    }
    let status = match values.get("status").map(|s| s.to_ascii_lowercase()) {
        None if ctx.mode == FileMode::Delta => {
            return Err((
                col("status"),
                "empty; a delta file must say active or tobedeleted".into(),
            ));
        }
        None => RosterStatus::Active,
        Some(s) if s == "active" => RosterStatus::Active,
        Some(s) if s == "tobedeleted" => RosterStatus::Tobedeleted,
        Some(s) => {
            return Err((col("status"), format!("`{s}` is not active or tobedeleted")));
        }
    };
    lap_rules(spec.name, &values).map_err(|(c, reason)| (col(c), reason))?;
    for c in spec.expected {
        if !values.contains_key(c) && header.iter().any(|h| h == c) {
            issues.push(Issue {
                file: ctx.file.clone(),
                line,
                column: col(c),
                severity: Severity::Warning,
                reason: "empty, though OneRoster requires it; the row is loaded".into(),
            });
        }
    }
    seen.insert(sourced_id.clone(), line);
    let date_last_modified = values
        .get("dateLastModified")
        .and_then(|v| parse_date_time(v));
    let (mut fields, mut metadata) = (BTreeMap::new(), BTreeMap::new());
    for (name, value) in values {
        if is_extension(name) {
            metadata.insert(name.to_string(), value);
        } else if !matches!(name, "status" | "dateLastModified") && name != spec.key {
            fields.insert(name.to_string(), value);
        }
    }
    Ok(RosterRecord {
        tenant: ctx.tenant.to_string(),
        entity: spec.entity,
        sourced_id,
        status,
        date_last_modified,
        fields,
        metadata,
        spec_version: ctx.spec_version.to_string(),
    })
}

/// Row rules of lap's own files that single-column formats cannot say.
fn lap_rules(file: &str, v: &BTreeMap<&str, String>) -> Result<(), (&'static str, String)> {
    match file {
        "lap-curriculum"
            if !v.contains_key("courseSourcedIds") && !v.contains_key("classSourcedIds") =>
        {
            Err((
                "courseSourcedIds",
                "an objective needs courseSourcedIds or classSourcedIds".into(),
            ))
        }
        "lap-questionnaire" => {
            let num = |c: &str| {
                v.get(c)
                    .and_then(|s| s.parse::<f64>().ok())
                    .unwrap_or(f64::NAN)
            };
            let (min, max) = (num("scaleMin"), num("scaleMax"));
            if min < max {
                Ok(())
            } else {
                Err((
                    "scaleMax",
                    format!("scaleMax {max} must be greater than scaleMin {min}"),
                ))
            }
        }
        _ => Ok(()),
    }
}

/// Checks `value` against `format`; returns it in canonical form.
fn check_format(value: &str, format: Format) -> Result<String, String> {
    let ok = |good: bool, what: &str| {
        if good {
            Ok(value.to_string())
        } else {
            Err(format!("`{value}` is not {what}"))
        }
    };
    match format {
        Format::Date => ok(
            NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok(),
            "a date (YYYY-MM-DD)",
        ),
        Format::DateTime => ok(
            parse_date_time(value).is_some(),
            "an ISO 8601 date-time (e.g. 2024-03-01T08:00:00Z)",
        ),
        Format::Year => ok(
            value.len() == 4 && value.bytes().all(|b| b.is_ascii_digit()),
            "a four-digit year",
        ),
        Format::Number => ok(value.parse::<f64>().is_ok_and(f64::is_finite), "a number"),
        Format::Bool => match value.to_ascii_lowercase().as_str() {
            "true" => Ok("true".into()),
            "false" => Ok("false".into()),
            _ => Err(format!("`{value}` is not true or false")),
        },
        Format::OneOf(allowed) => allowed
            .iter()
            .find(|a| a.eq_ignore_ascii_case(value))
            .map(|a| a.to_string())
            .ok_or_else(|| format!("`{value}` is not one of {}", allowed.join(", "))),
    }
}

/// Microseconds since the epoch of an ISO 8601 date or date-time; a value
/// without a zone is taken as UTC.
pub fn parse_date_time(value: &str) -> Option<i64> {
    let v = value.trim().replacen(' ', "T", 1);
    if let Ok(t) = DateTime::parse_from_rfc3339(&v) {
        return Some(t.timestamp_micros());
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(&v, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(t.and_utc().timestamp_micros());
    }
    NaiveDate::parse_from_str(&v, "%Y-%m-%d").ok().map(|d| {
        d.and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp_micros()
    })
}
