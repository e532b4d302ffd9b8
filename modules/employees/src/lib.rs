//! Employees: the people of a tenant. Core module, always enabled.

use mosaic_sdk::prelude::*;
use mosaic_sdk::store::{self, Collection, Index};
use mosaic_sdk::{Capability, events, time};
use serde_json::{Map, Value, json};

const EMPLOYEES: Collection = store::collection("employees")
    .indexes(&[Index::unique(&["email"]), Index::on(&["department"])]);

struct Employees;

impl Module for Employees {
    fn manifest() -> Manifest {
        Manifest::new("employees", "Employees", env!("CARGO_PKG_VERSION"))
            .description("People, departments, positions and salaries")
            .icon("users")
            .core()
            .sort_order(10)
            .collection(&EMPLOYEES)
            .capability(Capability::Events)
    }

    fn router() -> Router {
        Router::new()
            .get("/", list)
            .post("/", create)
            .min_role(Role::Manager)
            .get("/{id}", show)
            .patch("/{id}", update)
            .min_role(Role::Manager)
            .delete("/{id}", remove)
            .min_role(Role::TenantAdmin)
    }
}

export_module!(Employees);

const FIELDS: [&str; 7] = [
    "name",
    "email",
    "department",
    "position",
    "salary",
    "hired_on",
    "status",
];
const STATUSES: [&str; 2] = ["active", "inactive"];

fn list(req: &Request) -> Result<Response> {
    let mut query = EMPLOYEES
        .query()
        .limit(req.query_u32("limit")?.unwrap_or(50).clamp(1, 500))
        .cursor(req.query("cursor"));
    if let Some(department) = req.query("department") {
        query = query.eq("department", department);
    }
    if let Some(status) = req.query("status") {
        if !STATUSES.contains(&status) {
            return Err(Error::invalid_field("status", "must be active or inactive"));
        }
        query = query.eq("status", status);
    }
    Ok(Response::raw_json(200, query.fetch()?.to_json()))
}

fn create(req: &Request) -> Result<Response> {
    let input: Map<String, Value> = req.json()?;
    let mut employee = Map::new();
    employee.insert("status".into(), json!("active"));
    employee.insert("department".into(), Value::Null);
    employee.insert("position".into(), Value::Null);
    apply(&mut employee, input)?;
    require(&employee, &["name", "email", "salary", "hired_on"])?;
    let doc = EMPLOYEES.insert(&employee).map_err(email_taken)?;
    events::emit("employee.created", Some(&doc.id), &employee)?;
    Ok(Response::raw_json(201, doc.to_json()))
}

fn show(req: &Request) -> Result<Response> {
    let doc = EMPLOYEES.fetch(req.param("id"), "Employee")?;
    Ok(Response::raw_json(200, doc.to_json()))
}

fn update(req: &Request) -> Result<Response> {
    let id = req.param("id");
    let doc = EMPLOYEES.fetch(id, "Employee")?;
    let mut input: Map<String, Value> = req.json()?;
    // An optional `version` makes the update conditional on what the client last saw.
    let expected = match input.remove("version") {
        None => doc.version,
        Some(v) => v
            .as_u64()
            .ok_or_else(|| Error::invalid_field("version", "must be a positive integer"))?,
    };
    let mut employee: Map<String, Value> = doc.parse()?;
    apply(&mut employee, input)?;
    let doc = EMPLOYEES
        .update(id, Some(expected), &employee)
        .map_err(email_taken)?;
    events::emit("employee.updated", Some(&doc.id), &employee)?;
    Ok(Response::raw_json(200, doc.to_json()))
}

fn remove(req: &Request) -> Result<Response> {
    let id = req.param("id");
    if !EMPLOYEES.delete(id, None)? {
        return Err(Error::NotFound(format!("Employee {id} not found")));
    }
    events::emit("employee.deleted", Some(id), &json!({}))?;
    Ok(Response::no_content())
}

/// The unique index on `email` is the only conflict an insert or update can meet
/// besides a stale `version`.
fn email_taken(err: Error) -> Error {
    match err {
        Error::Conflict(m) if m.contains("email") => {
            Error::Conflict("An employee with this email already exists".into())
        }
        other => other,
    }
}

/// Validates `input` field by field and writes it over `employee`, collecting
/// every problem into one 422.
fn apply(employee: &mut Map<String, Value>, input: Map<String, Value>) -> Result<()> {
    let mut problems = std::collections::BTreeMap::new();
    for (field, value) in input {
        match validate(&field, value) {
            Ok(value) => {
                employee.insert(field, value);
            }
            Err(message) => {
                problems.insert(field, message.to_owned());
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(problems))
    }
}

fn require(employee: &Map<String, Value>, fields: &[&str]) -> Result<()> {
    let missing: std::collections::BTreeMap<_, _> = fields
        .iter()
        .filter(|f| employee.get(**f).is_none_or(Value::is_null))
        .map(|f| ((*f).to_owned(), "is required".to_owned()))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(missing))
    }
}

fn validate(field: &str, value: Value) -> std::result::Result<Value, &'static str> {
    match (field, value) {
        (_, Value::String(s)) if s.chars().any(char::is_control) => {
            Err("must not contain control characters")
        }
        ("name", Value::String(s)) => {
            let s = s.trim();
            if s.is_empty() || s.chars().count() > 200 {
                Err("must be 1 to 200 characters")
            } else {
                Ok(json!(s))
            }
        }
        ("email", Value::String(s)) => {
            let s = s.trim().to_lowercase();
            if is_email(&s) {
                Ok(json!(s))
            } else {
                Err("must be a valid email address")
            }
        }
        ("department" | "position", Value::Null) => Ok(Value::Null),
        ("department" | "position", Value::String(s)) => {
            let s = s.trim();
            if s.chars().count() > 100 {
                Err("must be at most 100 characters")
            } else if s.is_empty() {
                Ok(Value::Null)
            } else {
                Ok(json!(s))
            }
        }
        ("salary", Value::Number(n)) => match n.as_i64() {
            Some(minor_units) if minor_units >= 0 => Ok(json!(minor_units)),
            _ => Err("must be a non-negative integer (minor currency units)"),
        },
        ("hired_on", Value::String(s)) => match time::parse_date(&s) {
            Some(date) => Ok(json!(date.to_string())),
            None => Err("must be a date as YYYY-MM-DD"),
        },
        ("status", Value::String(s)) if STATUSES.contains(&s.as_str()) => Ok(json!(s)),
        ("status", _) => Err("must be active or inactive"),
        ("name" | "email" | "hired_on", _) => Err("must be a string"),
        ("department" | "position", _) => Err("must be a string or null"),
        ("salary", _) => Err("must be a non-negative integer (minor currency units)"),
        (other, _) if !FIELDS.contains(&other) => Err("unknown field"),
        _ => Err("invalid value"),
    }
}

fn is_email(s: &str) -> bool {
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
