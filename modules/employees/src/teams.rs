//! Teams: a name, a lead and members, all active employees of the tenant.

use std::collections::BTreeMap;

use mosaic_sdk::events;
use mosaic_sdk::input::{self, Field, Fields};
use mosaic_sdk::prelude::*;
use mosaic_sdk::store::{self, Batch, Collection, Index};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::{EMPLOYEES, Employee, for_caller};

pub const TEAMS: Collection = store::collection("teams").indexes(&[Index::unique(&["name"])]);

/// The most members one team has.
const MAX_MEMBERS: usize = 500;

#[derive(Serialize, Deserialize)]
struct Team {
    name: String,
    lead_id: Option<String>,
    /// Employee ids, each once; the lead is always one of them.
    member_ids: Vec<String>,
}

/// The fields [`Fields`] checks; `member_ids`, a list, is checked here.
const TEAM: Fields = Fields::new(&[
    Field::text("name", 1, 100).required(),
    Field::text("lead_id", 0, 200).optional(),
]);

pub fn list(req: &Request) -> Result<Response> {
    let query = TEAMS.query().order_by("name", false).paged(req)?;
    Ok(Response::raw_json(200, query.fetch()?.to_json()))
}

pub fn create(req: &Request) -> Result<Response> {
    let mut input: Map<String, Value> = req.json()?;
    let members = take_members(&mut input)?;
    let mut team: Team = TEAM.update_with(&json!({"lead_id": null, "member_ids": []}), input)?;
    team.member_ids = members.unwrap_or_default();
    check_people(&mut team, None)?;
    let doc = TEAMS.insert(&team).map_err(name_taken)?;
    events::emit("team.created", Some(&doc.id), &team)?;
    Ok(Response::raw_json(201, doc.to_json()))
}

pub fn show(req: &Request) -> Result<Response> {
    Ok(Response::raw_json(200, fetch(req.param("id"))?.to_json()))
}

/// The members' employee records, the lead first.
pub fn members(req: &Request) -> Result<Response> {
    let team: Team = fetch(req.param("id"))?.parse()?;
    let mut records = Vec::with_capacity(team.member_ids.len());
    for id in &team.member_ids {
        if let Some(doc) = EMPLOYEES.get(id)? {
            records.push(doc);
        }
    }
    records.sort_by_key(|doc| Some(&doc.id) != team.lead_id.as_ref());
    let records = for_caller(records)?;
    Ok(Response::raw_json(
        200,
        format!("{{\"items\":{}}}", store::to_json_array(&records)),
    ))
}

/// Renames, changes the lead, or replaces the members (`member_ids`).
pub fn update(req: &Request) -> Result<Response> {
    let id = req.param("id");
    let doc = fetch(id)?;
    let stored: Team = doc.parse()?;
    let mut input: Map<String, Value> = req.json()?;
    let expected = input::take_version(&mut input, doc.version)?;
    let members = take_members(&mut input)?;
    let mut team: Team = TEAM.update_with(&stored, input)?;
    if let Some(members) = members {
        team.member_ids = members;
    }
    check_people(&mut team, Some(&stored))?;
    let doc = TEAMS
        .update(id, Some(expected), &team)
        .map_err(name_taken)?;
    events::emit("team.updated", Some(id), &team)?;
    Ok(Response::raw_json(200, doc.to_json()))
}

pub fn remove(req: &Request) -> Result<Response> {
    let id = req.param("id");
    if !TEAMS.delete(id, None)? {
        return Err(Error::NotFound(format!("Team {id} not found")));
    }
    events::emit("team.deleted", Some(id), &json!({}))?;
    Ok(Response::no_content())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberChange {
    employee_id: String,
}

pub fn add_member(req: &Request) -> Result<Response> {
    let id = req.param("id");
    let MemberChange { employee_id } = req.json()?;
    let doc = fetch(id)?;
    let before: Team = doc.parse()?;
    if before.member_ids.contains(&employee_id) {
        return Err(Error::Conflict("The employee is already a member".into()));
    }
    let mut team: Team = doc.parse()?;
    team.member_ids.push(employee_id.clone());
    check_people(&mut team, Some(&before))?;
    let doc = TEAMS.update(id, Some(doc.version), &team)?;
    events::emit(
        "team.member_added",
        Some(id),
        &json!({"employee_id": employee_id, "name": team.name}),
    )?;
    Ok(Response::raw_json(200, doc.to_json()))
}

pub fn remove_member(req: &Request) -> Result<Response> {
    let (id, employee_id) = (req.param("id"), req.param("employee_id"));
    let doc = fetch(id)?;
    let mut team: Team = doc.parse()?;
    if !team.member_ids.iter().any(|m| m == employee_id) {
        return Err(Error::NotFound(format!(
            "Employee {employee_id} is not a member of team {id}"
        )));
    }
    team.member_ids.retain(|m| m != employee_id);
    if team.lead_id.as_deref() == Some(employee_id) {
        team.lead_id = None;
    }
    let doc = TEAMS.update(id, Some(doc.version), &team)?;
    events::emit(
        "team.member_removed",
        Some(id),
        &json!({"employee_id": employee_id, "name": team.name}),
    )?;
    Ok(Response::raw_json(200, doc.to_json()))
}

/// Takes `employee_id` out of every team (as member and as lead), with the
/// deletion that calls this: teams are few, so they are read in full.
pub fn forget_employee(employee_id: &str) -> Result<()> {
    let mut cursor = None;
    loop {
        let page = TEAMS.query().limit(500).cursor(cursor.as_deref()).fetch()?;
        let mut batch = Batch::new();
        let mut changed = Vec::new();
        for doc in &page.items {
            let mut team: Team = doc.parse()?;
            if !team.member_ids.iter().any(|m| m == employee_id) {
                continue;
            }
            team.member_ids.retain(|m| m != employee_id);
            if team.lead_id.as_deref() == Some(employee_id) {
                team.lead_id = None;
            }
            batch = batch.update(TEAMS, &doc.id, Some(doc.version), &team)?;
            changed.push((doc.id.clone(), team.name));
        }
        if !changed.is_empty() {
            batch.commit()?;
        }
        for (id, name) in changed {
            events::emit(
                "team.member_removed",
                Some(&id),
                &json!({"employee_id": employee_id, "name": name}),
            )?;
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(()),
        }
    }
}

fn fetch(id: &str) -> Result<store::Document> {
    TEAMS.fetch(id, "Team")
}

/// `member_ids` taken out of the body: a list of distinct ids, or absent.
fn take_members(input: &mut Map<String, Value>) -> Result<Option<Vec<String>>> {
    let Some(value) = input.remove("member_ids") else {
        return Ok(None);
    };
    let ids: Vec<String> = serde_json::from_value(value)
        .map_err(|_| Error::invalid_field("member_ids", "must be a list of employee ids"))?;
    if ids.len() > MAX_MEMBERS {
        return Err(Error::invalid_field(
            "member_ids",
            &format!("a team has at most {MAX_MEMBERS} members"),
        ));
    }
    let mut distinct: Vec<String> = Vec::with_capacity(ids.len());
    for id in ids {
        if !distinct.contains(&id) {
            distinct.push(id);
        }
    }
    Ok(Some(distinct))
}

/// 422 unless a new lead and every new member is an active employee (one who turned
/// inactive since joining stays until removed); the lead joins the members if not
/// among them.
fn check_people(team: &mut Team, before: Option<&Team>) -> Result<()> {
    let mut problems = BTreeMap::new();
    let is_new = |id: &String, then: fn(&Team) -> Vec<&String>| {
        before.is_none_or(|b| !then(b).contains(&id))
    };
    if let Some(lead) = &team.lead_id {
        if is_new(lead, |b| b.lead_id.iter().collect())
            && let Some(why) = not_active(lead)?
        {
            problems.insert("lead_id".to_owned(), why.to_owned());
        } else if !team.member_ids.contains(lead) {
            team.member_ids.insert(0, lead.clone());
        }
    }
    let mut inactive = Vec::new();
    for id in &team.member_ids {
        if is_new(id, |b| b.member_ids.iter().collect())
            && let Some(why) = not_active(id)?
        {
            inactive.push(format!("{id}: {why}"));
        }
    }
    if !inactive.is_empty() {
        problems.insert("member_ids".to_owned(), inactive.join("; "));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(problems))
    }
}

/// Why `id` cannot be in a team, if it cannot.
fn not_active(id: &str) -> Result<Option<&'static str>> {
    Ok(match EMPLOYEES.get(id)? {
        None => Some("no such employee"),
        Some(doc) if doc.parse::<Employee>()?.status != "active" => Some("employee is not active"),
        Some(_) => None,
    })
}

fn name_taken(err: Error) -> Error {
    match err {
        Error::Conflict(m) if m.contains("name") => {
            Error::Conflict("A team with this name already exists".into())
        }
        other => other,
    }
}
