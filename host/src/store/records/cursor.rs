//! Page cursors: where the previous page of a query ended, and the keyset condition
//! that continues after it.

use std::fmt::Write as _;

use serde_json::Value as Json;

use super::query::{Arg, SqlBuilder};
use super::{StoreError, StoreResult};

/// A position in a result: the last row's order value (JSON text, as the database
/// rendered it; none for null or missing) and its insertion sequence.
pub(crate) struct Cursor {
    pub(crate) value: Option<String>,
    pub(crate) seq: i64,
}

impl Cursor {
    pub(crate) fn encode(&self) -> String {
        hex::encode(serde_json::json!([self.value, self.seq]).to_string())
    }

    pub(crate) fn decode(text: &str) -> StoreResult<Self> {
        let bad = || StoreError::Invalid("cursor is not one this host issued".into());
        let bytes = hex::decode(text).map_err(|_| bad())?;
        let (value, seq): (Option<String>, i64) =
            serde_json::from_slice(&bytes).map_err(|_| bad())?;
        if value
            .as_deref()
            .is_some_and(|v| v.contains('\0') || serde_json::from_str::<Json>(v).is_err())
        {
            return Err(bad());
        }
        Ok(Self { value, seq })
    }
}

impl SqlBuilder {
    /// Keyset pagination after `cursor`, for `ORDER BY expr NULLS FIRST, seq` (or the
    /// reverse when descending).
    pub(super) fn cursor_condition(
        &mut self,
        order: Option<&str>,
        descending: bool,
        cursor: &Cursor,
    ) -> StoreResult<()> {
        let seq = self.bind(Arg::Integer(cursor.seq));
        let after = if descending { "<" } else { ">" };
        let cond = match (order, &cursor.value) {
            (None, _) => format!("seq {after} {seq}"),
            (Some(expr), None) if descending => format!("{expr} IS NULL AND seq < {seq}"),
            (Some(expr), None) => {
                format!("({expr} IS NULL AND seq > {seq}) OR {expr} IS NOT NULL")
            }
            (Some(expr), Some(value)) => {
                let v = self.bind_json_text(value.clone());
                let nulls_after = if descending {
                    format!(" OR {expr} IS NULL")
                } else {
                    String::new()
                };
                format!("{expr} {after} {v} OR ({expr} = {v} AND seq {after} {seq}){nulls_after}")
            }
        };
        write!(self.sql, " AND ({cond})").ok();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = Cursor {
            value: Some("\"x\"".into()),
            seq: 42,
        }
        .encode();
        let back = Cursor::decode(&c).expect("decodes");
        assert_eq!((back.value.as_deref(), back.seq), (Some("\"x\""), 42));
        let forged = hex::encode(r#"["not json", 1]"#);
        assert!(Cursor::decode(&forged).is_err());
        assert!(Cursor::decode("zz").is_err());
        assert!(Cursor::decode(&hex::encode("[1]")).is_err());
    }
}
