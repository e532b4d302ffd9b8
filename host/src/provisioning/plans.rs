//! Billing plans: platform admins create, edit and retire them; tenants subscribe
//! from the ones not retired.

use std::collections::BTreeMap;

use super::{Actor, ProvisionError, Provisioner};
use crate::runtime::registry::CORE_MODULES;
use crate::store::plans::{Limits, Period, Plan};

/// A plan as a platform admin writes it.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPlan {
    pub key: String,
    pub name: String,
    pub price_minor: i64,
    pub currency: String,
    pub period: Period,
    #[serde(default)]
    pub modules: Vec<String>,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default = "default_sort_order")]
    pub sort_order: i64,
}

fn default_sort_order() -> i64 {
    100
}

/// A change to a plan: an absent field is kept. `limits` replaces all four.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanChanges {
    pub name: Option<String>,
    pub price_minor: Option<i64>,
    pub currency: Option<String>,
    pub period: Option<Period>,
    pub modules: Option<Vec<String>>,
    pub limits: Option<Limits>,
    pub sort_order: Option<i64>,
}

impl Provisioner<'_> {
    pub async fn create_plan(
        &self,
        new: NewPlan,
        actor: &Actor<'_>,
    ) -> Result<Plan, ProvisionError> {
        let plan = Plan {
            key: new.key,
            name: new.name.trim().to_owned(),
            price_minor: new.price_minor,
            currency: new.currency,
            period: new.period,
            modules: new.modules,
            limits: new.limits,
            sort_order: new.sort_order,
            retired_at: None,
        };
        let mut problems = check(&plan);
        if !valid_key(&plan.key) {
            problems.insert("key".into(), "must be 1 to 32 of a-z, 0-9 and -".into());
        }
        if !problems.is_empty() {
            return Err(ProvisionError::Invalid(problems));
        }
        let audit = actor.audit(None, "plan.create", &plan.key);
        if !self.db.insert_plan(&plan, audit).await? {
            return Err(ProvisionError::PlanTaken(plan.key));
        }
        Ok(plan)
    }

    pub async fn update_plan(
        &self,
        key: &str,
        changes: PlanChanges,
        actor: &Actor<'_>,
    ) -> Result<Plan, ProvisionError> {
        let before = self
            .db
            .plan(key)
            .await?
            .ok_or_else(|| ProvisionError::UnknownPlan(key.to_owned()))?;
        let plan = Plan {
            name: changes
                .name
                .map_or_else(|| before.name.clone(), |n| n.trim().to_owned()),
            price_minor: changes.price_minor.unwrap_or(before.price_minor),
            currency: changes.currency.unwrap_or_else(|| before.currency.clone()),
            period: changes.period.unwrap_or(before.period),
            modules: changes.modules.unwrap_or_else(|| before.modules.clone()),
            limits: changes.limits.unwrap_or_else(|| before.limits.clone()),
            sort_order: changes.sort_order.unwrap_or(before.sort_order),
            ..before.clone()
        };
        let problems = check(&plan);
        if !problems.is_empty() {
            return Err(ProvisionError::Invalid(problems));
        }
        let audit = actor.audit(None, "plan.update", key).before(&before);
        if !self.db.update_plan(&plan, audit).await? {
            return Err(ProvisionError::UnknownPlan(key.to_owned()));
        }
        Ok(plan)
    }

    /// The plan keeps its subscribers and takes no new ones. The default plan, which
    /// every new tenant's trial is of, cannot be retired.
    pub async fn retire_plan(&self, key: &str, actor: &Actor<'_>) -> Result<Plan, ProvisionError> {
        if key == self.billing.default_plan {
            return Err(ProvisionError::InvalidTransition(format!(
                "plan {key} is the default plan of new tenants: choose another default first"
            )));
        }
        let audit = actor.audit(None, "plan.retire", key);
        if !self.db.retire_plan(key, audit).await? {
            return match self.db.plan(key).await? {
                Some(_) => Err(ProvisionError::InvalidTransition(format!(
                    "plan {key} is retired already"
                ))),
                None => Err(ProvisionError::UnknownPlan(key.to_owned())),
            };
        }
        self.db
            .plan(key)
            .await?
            .ok_or_else(|| ProvisionError::UnknownPlan(key.to_owned()))
    }
}

/// The most modules a plan lists.
const MAX_PLAN_MODULES: usize = 100;

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 32
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Everything wrong with `plan` but its key, by field.
fn check(plan: &Plan) -> BTreeMap<String, String> {
    let mut problems = BTreeMap::new();
    let name_chars = plan.name.chars().count();
    if name_chars == 0 || name_chars > 100 || plan.name.chars().any(char::is_control) {
        problems.insert("name".into(), "must be 1 to 100 characters".into());
    }
    if plan.price_minor < 0 {
        problems.insert(
            "price_minor".into(),
            "must be a non-negative integer (minor currency units)".into(),
        );
    }
    if !(plan.currency.len() == 3 && plan.currency.bytes().all(|b| b.is_ascii_uppercase())) {
        problems.insert(
            "currency".into(),
            "must be an ISO 4217 code such as USD".into(),
        );
    }
    if plan.modules.len() > MAX_PLAN_MODULES {
        problems.insert(
            "modules".into(),
            format!("must list at most {MAX_PLAN_MODULES} modules"),
        );
    }
    let mut seen = std::collections::HashSet::new();
    for module in plan.modules.iter().take(MAX_PLAN_MODULES) {
        let problem = if !valid_key(module) {
            Some(format!("{module:?} is not a module key"))
        } else if CORE_MODULES.contains(&module.as_str()) {
            Some(format!("{module} is core and comes with every plan"))
        } else if !seen.insert(module) {
            Some(format!("{module} is listed twice"))
        } else {
            None
        };
        if let Some(problem) = problem {
            problems.insert("modules".into(), problem);
        }
    }
    let limits = &plan.limits;
    for (field, value) in [
        ("max_employees", limits.max_employees),
        ("max_storage_bytes", limits.max_storage_bytes),
        ("max_requests_per_second", limits.max_requests_per_second),
        ("max_users", limits.max_users),
    ] {
        if value.is_some_and(|v| v < 0) {
            problems.insert(
                format!("limits.{field}"),
                "must be a non-negative integer, or null for no limit".into(),
            );
        }
    }
    problems
}
