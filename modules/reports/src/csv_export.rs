//! Reports as CSV: a section with a table is that table; any other is
//! `metric,value` rows of its figures flattened (`cycle_time_hours.median`).

use mosaic_sdk::prelude::*;
use serde_json::{Map, Value};

use crate::sections::Section;

/// One section: its table, or its figures as rows.
pub fn section(section: &Section, figures: &Value) -> Result<Response> {
    let mut out = csv::Writer::from_writer(Vec::new());
    match (section.table, figures["available"].as_bool()) {
        (Some((field, columns)), Some(true)) => {
            write(&mut out, columns.iter().copied())?;
            for row in figures[field].as_array().into_iter().flatten() {
                write(&mut out, columns.iter().map(|c| cell(&row[*c])))?;
            }
        }
        _ => {
            write(&mut out, ["metric", "value"])?;
            for (metric, value) in flatten(figures, None) {
                write(&mut out, [metric, value])?;
            }
        }
    }
    finish(out, section.key)
}

/// Every section's figures as `section,metric,value` rows; the tables are left to
/// each section's own CSV.
pub fn overview(sections: &Map<String, Value>) -> Result<Response> {
    let mut out = csv::Writer::from_writer(Vec::new());
    write(&mut out, ["section", "metric", "value"])?;
    for (key, figures) in sections {
        let table = crate::SECTIONS
            .iter()
            .find(|s| s.key == key)
            .and_then(|s| s.table)
            .map(|(field, _)| field);
        for (metric, value) in flatten(figures, table) {
            write(&mut out, [key.clone(), metric, value])?;
        }
    }
    finish(out, "report")
}

/// `(dotted path, value)` of every scalar in `value`, leaving out the field `skip`.
fn flatten(value: &Value, skip: Option<&str>) -> Vec<(String, String)> {
    fn walk(value: &Value, path: String, out: &mut Vec<(String, String)>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    let path = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    walk(value, path, out);
                }
            }
            Value::Array(items) => {
                for (i, value) in items.iter().enumerate() {
                    walk(value, format!("{path}.{i}"), out);
                }
            }
            scalar => out.push((path, cell(scalar))),
        }
    }
    let mut out = Vec::new();
    match (value, skip) {
        (Value::Object(map), Some(skip)) => {
            for (key, value) in map.iter().filter(|(k, _)| *k != skip) {
                walk(value, key.clone(), &mut out);
            }
        }
        _ => walk(value, String::new(), &mut out),
    }
    out
}

fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        // A spreadsheet would run a text such as `=HYPERLINK(..)` as a formula.
        Value::String(s) if s.starts_with(['=', '+', '-', '@', '\t', '\r']) => format!("'{s}"),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn write<I, T>(out: &mut csv::Writer<Vec<u8>>, record: I) -> Result<()>
where
    I: IntoIterator<Item = T>,
    T: AsRef<[u8]>,
{
    out.write_record(record)
        .map_err(|e| Error::Internal(format!("writing CSV: {e}")))
}

fn finish(out: csv::Writer<Vec<u8>>, name: &str) -> Result<Response> {
    let body = out
        .into_inner()
        .map_err(|e| Error::Internal(format!("writing CSV: {e}")))?;
    Ok(
        Response::bytes(200, "text/csv; charset=utf-8", body).with_header(
            "content-disposition",
            format!("attachment; filename=\"{name}.csv\""),
        ),
    )
}
