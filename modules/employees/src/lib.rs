//! Employees: the people of a tenant, and their teams. Core module, always enabled.

mod stats;
mod teams;

use mosaic_sdk::input::{self, Field, Fields};
use mosaic_sdk::prelude::*;
use mosaic_sdk::store::{self, Collection, Document, Index};
use mosaic_sdk::{Capability, billing, events, identity};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

const EMPLOYEES: Collection = store::collection("employees")
    .indexes(&[Index::unique(&["email"]), Index::on(&["department"])]);

struct Employees;

impl Module for Employees {
    fn manifest() -> Manifest {
        Manifest::new("employees", "Employees", env!("CARGO_PKG_VERSION"))
            .description("People, departments, positions, salaries and teams")
            .icon("users")
            .core()
            .sort_order(10)
            .collection(&EMPLOYEES)
            .collection(&teams::TEAMS)
            .capability(Capability::Events)
            .capability(Capability::Billing)
    }

    fn router() -> Router {
        Router::new()
            .get("/", list)
            .post("/", create)
            .min_role(Role::Manager)
            .get("/me", me)
            .get("/stats", stats::stats)
            .min_role(Role::Manager)
            .get("/teams", teams::list)
            .post("/teams", teams::create)
            .min_role(Role::Manager)
            .get("/teams/{id}", teams::show)
            .patch("/teams/{id}", teams::update)
            .min_role(Role::Manager)
            .delete("/teams/{id}", teams::remove)
            .min_role(Role::Manager)
            .get("/teams/{id}/members", teams::members)
            .post("/teams/{id}/members", teams::add_member)
            .min_role(Role::Manager)
            .delete("/teams/{id}/members/{employee_id}", teams::remove_member)
            .min_role(Role::Manager)
            .get("/{id}", show)
            .patch("/{id}", update)
            .min_role(Role::Manager)
            .delete("/{id}", remove)
            .min_role(Role::TenantAdmin)
    }
}

export_module!(Employees);

/// An employee, as stored and as the API shows it.
#[derive(Serialize, Deserialize)]
struct Employee {
    name: String,
    email: String,
    department: Option<String>,
    position: Option<String>,
    /// Minor currency units.
    salary: i64,
    /// `YYYY-MM-DD`, checked on the way in; text, so that a document stored by an
    /// older version with a date jiff does not read still loads.
    hired_on: String,
    status: String,
}

const STATUSES: &[&str] = &["active", "inactive"];

const EMPLOYEE: Fields = Fields::new(&[
    Field::text("name", 1, 200).required(),
    Field::email("email").required(),
    Field::text("department", 0, 100).optional(),
    Field::text("position", 0, 100).optional(),
    Field::integer("salary")
        .min(0)
        .unit("minor currency units")
        .required(),
    Field::date("hired_on").required(),
    Field::choice("status", STATUSES).or("active"),
]);

fn list(req: &Request) -> Result<Response> {
    let mut query = EMPLOYEES.query().paged(req)?;
    if let Some(department) = req.query("department") {
        query = query.eq("department", department);
    }
    if let Some(email) = req.query("email") {
        query = query.eq("email", email.trim().to_lowercase());
    }
    if let Some(status) = req.query("status") {
        if !STATUSES.contains(&status) {
            return Err(Error::invalid_field("status", "must be active or inactive"));
        }
        query = query.eq("status", status);
    }
    let mut page = query.fetch()?;
    page.items = for_caller(page.items)?;
    Ok(Response::raw_json(200, page.to_json()))
}

/// Salaries are for managers, for the employee themselves, and for the platform's
/// own calls (schedules and events, such as wallet's payouts): `docs` as the caller
/// may see them.
fn for_caller(docs: Vec<Document>) -> Result<Vec<Document>> {
    let Some(caller) = identity::caller() else {
        return Ok(docs);
    };
    if identity::has_role(Role::Manager) {
        return Ok(docs);
    }
    let own = caller.email.map(|e| e.to_lowercase());
    docs.into_iter()
        .map(|doc| {
            let mut data: Map<String, Value> = doc.parse()?;
            if data.get("email").and_then(Value::as_str) == own.as_deref() {
                return Ok(doc);
            }
            data.remove("salary");
            let data = serde_json::to_string(&data).map_err(|e| Error::Internal(e.to_string()))?;
            Ok(Document { data, ..doc })
        })
        .collect()
}

/// The caller's own employee record: the one with the caller's email.
fn me(_: &Request) -> Result<Response> {
    let caller = identity::require_caller()?;
    let no_record = || Error::NotFound("You have no employee record in this company".into());
    let email = caller.email.ok_or_else(no_record)?.to_lowercase();
    let page = EMPLOYEES.query().eq("email", email).limit(1).fetch()?;
    let doc = page.items.into_iter().next().ok_or_else(no_record)?;
    Ok(Response::raw_json(200, doc.to_json()))
}

fn create(req: &Request) -> Result<Response> {
    let employee: Employee = EMPLOYEE.create(req)?;
    // The plan's employee limit: the host counts, within this request.
    billing::check_quota("employees", 1)?;
    let doc = EMPLOYEES.insert(&employee).map_err(email_taken)?;
    events::emit("employee.created", Some(&doc.id), &employee)?;
    Ok(Response::raw_json(201, doc.to_json()))
}

fn show(req: &Request) -> Result<Response> {
    let doc = EMPLOYEES.fetch(req.param("id"), "Employee")?;
    let doc = for_caller(vec![doc])?.swap_remove(0);
    Ok(Response::raw_json(200, doc.to_json()))
}

fn update(req: &Request) -> Result<Response> {
    let id = req.param("id");
    let doc = EMPLOYEES.fetch(id, "Employee")?;
    let mut input: Map<String, Value> = req.json()?;
    let expected = input::take_version(&mut input, doc.version)?;
    let stored: Employee = doc.parse()?;
    let employee: Employee = EMPLOYEE.update_with(&stored, input)?;
    let doc = EMPLOYEES
        .update(id, Some(expected), &employee)
        .map_err(email_taken)?;
    events::emit("employee.updated", Some(&doc.id), &employee)?;
    Ok(Response::raw_json(200, doc.to_json()))
}

/// Deletes the employee and takes them out of every team, in one unit of work.
fn remove(req: &Request) -> Result<Response> {
    let id = req.param("id");
    if !EMPLOYEES.delete(id, None)? {
        return Err(Error::NotFound(format!("Employee {id} not found")));
    }
    teams::forget_employee(id)?;
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
