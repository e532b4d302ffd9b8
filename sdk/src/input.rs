//! Typed input: a module declares the fields a document accepts once, next to the
//! Rust type it is stored as, and gets every problem of a request body at once as
//! per-field 422 messages (required, type, length, range, email, date, choice,
//! unknown field), without hand-written checks.
//!
//! ```ignore
//! #[derive(Serialize, Deserialize)]
//! struct Employee { name: String, email: String, salary: i64, hired_on: Date, status: Status }
//!
//! const EMPLOYEE: Fields = Fields::new(&[
//!     Field::text("name", 1, 200).required(),
//!     Field::email("email").required(),
//!     Field::integer("salary").min(0).unit("minor currency units").required(),
//!     Field::date("hired_on").required(),
//!     Field::choice("status", &["active", "inactive"]).or("active"),
//! ]);
//!
//! let new: Employee = EMPLOYEE.create(req)?;                   // POST
//! let changed: Employee = EMPLOYEE.update(&stored, req)?;      // PATCH: only what is sent
//! ```
//!
//! Values are normalised on the way in: text is trimmed, emails are lower-cased,
//! dates are written `YYYY-MM-DD`, and an optional text sent empty is stored as null.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::{Error, Request, Result, time};

/// The fields a document accepts.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    fields: &'static [Field],
}

/// One accepted field: its kind, and whether it must be there.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    name: &'static str,
    kind: Kind,
    required: bool,
    /// For a text: `null` (or empty) is accepted, and stored as null.
    optional: bool,
    /// Written at creation when the field is not sent.
    default: Option<&'static str>,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Text {
        min_chars: usize,
        max_chars: usize,
    },
    Email,
    Integer {
        min: Option<i64>,
        max: Option<i64>,
        unit: Option<&'static str>,
    },
    Boolean,
    Date,
    Choice(&'static [&'static str]),
}

impl Field {
    const fn of(name: &'static str, kind: Kind) -> Self {
        Self {
            name,
            kind,
            required: false,
            optional: false,
            default: None,
        }
    }

    /// Text of `min_chars` to `max_chars` characters once trimmed, without control
    /// characters.
    pub const fn text(name: &'static str, min_chars: usize, max_chars: usize) -> Self {
        Self::of(
            name,
            Kind::Text {
                min_chars,
                max_chars,
            },
        )
    }

    /// An email address, stored trimmed and lower-cased.
    pub const fn email(name: &'static str) -> Self {
        Self::of(name, Kind::Email)
    }

    /// A whole number; see [`Field::min`], [`Field::max`], [`Field::unit`].
    pub const fn integer(name: &'static str) -> Self {
        Self::of(
            name,
            Kind::Integer {
                min: None,
                max: None,
                unit: None,
            },
        )
    }

    pub const fn boolean(name: &'static str) -> Self {
        Self::of(name, Kind::Boolean)
    }

    /// A calendar date, `YYYY-MM-DD`.
    pub const fn date(name: &'static str) -> Self {
        Self::of(name, Kind::Date)
    }

    /// One of `choices`.
    pub const fn choice(name: &'static str, choices: &'static [&'static str]) -> Self {
        Self::of(name, Kind::Choice(choices))
    }

    /// Must be present (and not null) once the document is complete.
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// May be null; an empty text is stored as null. Absent at creation, it is null.
    pub const fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// The value written at creation when the field is not sent.
    pub const fn or(mut self, default: &'static str) -> Self {
        self.default = Some(default);
        self
    }

    pub const fn min(mut self, min: i64) -> Self {
        if let Kind::Integer { max, unit, .. } = self.kind {
            self.kind = Kind::Integer {
                min: Some(min),
                max,
                unit,
            };
        }
        self
    }

    pub const fn max(mut self, max: i64) -> Self {
        if let Kind::Integer { min, unit, .. } = self.kind {
            self.kind = Kind::Integer {
                min,
                max: Some(max),
                unit,
            };
        }
        self
    }

    /// Named in the message, e.g. `minor currency units`.
    pub const fn unit(mut self, unit: &'static str) -> Self {
        if let Kind::Integer { min, max, .. } = self.kind {
            self.kind = Kind::Integer {
                min,
                max,
                unit: Some(unit),
            };
        }
        self
    }

    /// The value to store, or what is wrong with it.
    fn check(&self, value: Value) -> std::result::Result<Value, String> {
        if let Value::String(s) = &value
            && s.chars().any(char::is_control)
        {
            return Err("must not contain control characters".into());
        }
        if value.is_null() && self.optional {
            return Ok(Value::Null);
        }
        match (self.kind, value) {
            (
                Kind::Text {
                    min_chars,
                    max_chars,
                },
                Value::String(s),
            ) => {
                let s = s.trim();
                let chars = s.chars().count();
                if s.is_empty() && self.optional {
                    Ok(Value::Null)
                } else if chars < min_chars || chars > max_chars {
                    Err(if min_chars == 0 {
                        format!("must be at most {max_chars} characters")
                    } else {
                        format!("must be {min_chars} to {max_chars} characters")
                    })
                } else {
                    Ok(Value::String(s.to_owned()))
                }
            }
            (Kind::Email, Value::String(s)) => {
                let s = s.trim().to_lowercase();
                if is_email(&s) {
                    Ok(Value::String(s))
                } else {
                    Err("must be a valid email address".into())
                }
            }
            (Kind::Date, Value::String(s)) => time::parse_date(&s)
                .map(|d| Value::String(d.to_string()))
                .ok_or_else(|| "must be a date as YYYY-MM-DD".into()),
            (Kind::Integer { min, max, unit }, value) => match value.as_i64() {
                Some(n) if min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m) => {
                    Ok(Value::from(n))
                }
                _ => Err(integer_message(min, max, unit)),
            },
            (Kind::Boolean, Value::Bool(b)) => Ok(Value::Bool(b)),
            (Kind::Boolean, _) => Err("must be true or false".into()),
            (Kind::Choice(choices), Value::String(s)) if choices.contains(&s.as_str()) => {
                Ok(Value::String(s))
            }
            (Kind::Choice(choices), _) => Err(format!("must be {}", either(choices))),
            (_, _) if self.optional => Err("must be a string or null".into()),
            (_, _) => Err("must be a string".into()),
        }
    }
}

impl Fields {
    pub const fn new(fields: &'static [Field]) -> Self {
        Self { fields }
    }

    /// A new document from the request's JSON body: every field checked, defaults
    /// filled in, required ones present. Every problem is one 422.
    pub fn create<T: DeserializeOwned>(&self, req: &Request) -> Result<T> {
        let input: Map<String, Value> = req.json()?;
        let mut document = Map::new();
        for field in self.fields {
            if let Some(default) = field.default {
                document.insert(field.name.into(), Value::String(default.into()));
            } else if field.optional {
                document.insert(field.name.into(), Value::Null);
            }
        }
        self.apply(document, input)
    }

    /// `stored` with the fields the request's JSON body sends written over it, each
    /// checked. Every problem is one 422.
    pub fn update<S: Serialize, T: DeserializeOwned>(
        &self,
        stored: &S,
        req: &Request,
    ) -> Result<T> {
        self.update_with(stored, req.json()?)
    }

    /// [`Fields::update`] with a body already read (one whose own fields, such as a
    /// `version`, were taken out first).
    pub fn update_with<S: Serialize, T: DeserializeOwned>(
        &self,
        stored: &S,
        input: Map<String, Value>,
    ) -> Result<T> {
        let document = match serde_json::to_value(stored) {
            Ok(Value::Object(map)) => map,
            _ => return Err(Error::Internal("a stored document is not an object".into())),
        };
        self.apply(document, input)
    }

    fn apply<T: DeserializeOwned>(
        &self,
        mut document: Map<String, Value>,
        input: Map<String, Value>,
    ) -> Result<T> {
        let mut problems = BTreeMap::new();
        for (name, value) in input {
            let Some(field) = self.fields.iter().find(|f| f.name == name) else {
                problems.insert(name, "unknown field".to_owned());
                continue;
            };
            match field.check(value) {
                Ok(value) => {
                    document.insert(name, value);
                }
                Err(message) => {
                    problems.insert(name, message);
                }
            }
        }
        for field in self.fields.iter().filter(|f| f.required) {
            if document.get(field.name).is_none_or(Value::is_null) {
                problems
                    .entry(field.name.to_owned())
                    .or_insert_with(|| "is required".to_owned());
            }
        }
        if !problems.is_empty() {
            return Err(Error::Invalid(problems));
        }
        serde_json::from_value(Value::Object(document))
            .map_err(|e| Error::Internal(format!("checked input does not fit its type: {e}")))
    }
}

/// `value` if it is one of `allowed`, else a 422 on `field` listing them: for
/// query-string filters, which [`Fields`] does not see.
pub fn one_of<'a>(field: &str, value: &'a str, allowed: &[&str]) -> Result<&'a str> {
    if allowed.contains(&value) {
        Ok(value)
    } else {
        Err(Error::invalid_field(
            field,
            &format!("must be one of {}", allowed.join(", ")),
        ))
    }
}

/// Takes the optional `version` out of an update's body: the version the write is
/// conditional on, `current` (what this request read) when the client sent none.
pub fn take_version(input: &mut Map<String, Value>, current: u64) -> Result<u64> {
    match input.remove("version") {
        None => Ok(current),
        Some(v) => v
            .as_u64()
            .ok_or_else(|| Error::invalid_field("version", "must be a positive integer")),
    }
}

fn integer_message(min: Option<i64>, max: Option<i64>, unit: Option<&str>) -> String {
    let what = match (min, max) {
        (Some(0), None) => "must be a non-negative integer".to_owned(),
        (Some(min), None) => format!("must be an integer of at least {min}"),
        (None, Some(max)) => format!("must be an integer of at most {max}"),
        (Some(min), Some(max)) => format!("must be an integer from {min} to {max}"),
        (None, None) => "must be an integer".to_owned(),
    };
    match unit {
        Some(unit) => format!("{what} ({unit})"),
        None => what,
    }
}

/// `a`, `a or b`, `a, b or c`.
fn either(choices: &[&str]) -> String {
    match choices {
        [] => "nothing".into(),
        [one] => (*one).into(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// A plain check: one `@`, a dotted domain, no spaces, at most 254 bytes.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    s.len() <= 254
        && !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PERSON: Fields = Fields::new(&[
        Field::text("name", 1, 200).required(),
        Field::email("email").required(),
        Field::text("team", 0, 10).optional(),
        Field::integer("age").min(0).max(150),
        Field::date("born"),
        Field::choice("status", &["active", "inactive"]).or("active"),
        Field::boolean("admin"),
    ]);

    fn create(body: Value) -> Result<Value> {
        PERSON.apply(
            Map::from_iter([
                ("team".to_owned(), Value::Null),
                ("status".to_owned(), json!("active")),
            ]),
            body.as_object().cloned().unwrap_or_default(),
        )
    }

    fn problems(result: Result<Value>) -> BTreeMap<String, String> {
        match result {
            Err(Error::Invalid(problems)) => problems,
            other => panic!("expected a 422, got {other:?}"),
        }
    }

    #[test]
    fn values_are_normalised_and_defaults_filled() {
        let person = create(
            json!({"name": " Ada ", "email": " ADA@Example.com", "team": "", "born": "1815-12-10"}),
        )
        .unwrap();
        assert_eq!(
            person,
            json!({"name": "Ada", "email": "ada@example.com", "team": null, "status": "active", "born": "1815-12-10"})
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let found = problems(create(json!({
            "name": "", "email": "nope", "team": 7, "age": -1, "born": "2023-02-29",
            "status": "retired", "admin": "yes", "shoe_size": 42
        })));
        assert_eq!(found["name"], "must be 1 to 200 characters");
        assert_eq!(found["email"], "must be a valid email address");
        assert_eq!(found["team"], "must be a string or null");
        assert_eq!(found["age"], "must be an integer from 0 to 150");
        assert_eq!(found["born"], "must be a date as YYYY-MM-DD");
        assert_eq!(found["status"], "must be active or inactive");
        assert_eq!(found["admin"], "must be true or false");
        assert_eq!(found["shoe_size"], "unknown field");
        let missing = problems(create(json!({"team": "a\u{7}b"})));
        assert_eq!(missing["name"], "is required");
        assert_eq!(missing["email"], "is required");
        assert_eq!(missing["team"], "must not contain control characters");
    }
}
