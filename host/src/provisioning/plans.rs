//! Billing plans: platform admins create, edit and retire them; tenants subscribe
//! from the ones not retired, and a plan decides which modules a tenant may have.
//!
//! A module that some plan lists is sold: a tenant may switch it on only if its own
//! plan lists it. Core modules come with every plan, and a module no plan lists (a
//! third-party module not priced yet) is not gated.

use std::collections::BTreeMap;

use super::{Actor, ProvisionError, Provisioner};
use crate::billing::allows;
use crate::runtime::registry::CORE_MODULES;
use crate::store::plans::{Limits, Period, Plan};

/// A plan as a platform admin writes it.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
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

/// The result of a plan change.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct PlanChanged {
    pub tenant: String,
    pub plan: String,
    pub previous: String,
    /// Switched off because the new plan lacks them; data kept.
    pub paused: Vec<String>,
    /// Switched back on: paused by an earlier change, and in the new plan.
    pub resumed: Vec<String>,
    /// Issued by the change: open period invoices at the new price, and an
    /// upgrade's pro-rated difference.
    pub invoices: Vec<crate::store::invoices::Invoice>,
}

/// The cheapest plan taking subscribers that includes `module`, among those in the
/// currency of the tenant's plan `current` (prices compared per year).
pub(super) fn cheapest_with(plans: &[Plan], current: &str, module: &str) -> Option<String> {
    let currency = plans
        .iter()
        .find(|p| p.key == current)
        .map(|p| p.currency.as_str());
    plans
        .iter()
        .filter(|p| p.retired_at.is_none() && p.modules.iter().any(|m| m == module))
        .filter(|p| currency.is_none_or(|c| p.currency == c))
        .min_by_key(|p| match p.period {
            Period::Month => p.price_minor.saturating_mul(12),
            Period::Year => p.price_minor,
        })
        .map(|p| p.key.clone())
}

impl Provisioner<'_> {
    /// Refuses the first of `modules` that a tenant on `plan` may not have, naming
    /// the cheapest plan that would let it.
    pub(super) async fn check_plan_allows(
        &self,
        plan: &str,
        modules: &[String],
    ) -> Result<(), ProvisionError> {
        let plans = self.db.plans(true).await?;
        match modules.iter().find(|m| !allows(&plans, plan, m)) {
            Some(module) => Err(ProvisionError::NotInPlan {
                module: module.clone(),
                plan: plan.to_owned(),
                upgrade_to: cheapest_with(&plans, plan, module),
            }),
            None => Ok(()),
        }
    }

    /// The plans a tenant must be on to have `module`; none when it is not gated (core,
    /// or listed by no plan).
    pub(super) async fn plans_allowing(
        &self,
        module: &str,
    ) -> Result<Option<Vec<String>>, ProvisionError> {
        let plans = self.db.plans(true).await?;
        let sold = plans.iter().any(|p| p.modules.iter().any(|m| m == module));
        if CORE_MODULES.contains(&module) || !sold {
            return Ok(None);
        }
        Ok(Some(
            plans
                .iter()
                .filter(|p| p.modules.iter().any(|m| m == module))
                .map(|p| p.key.clone())
                .collect(),
        ))
    }

    /// Moves a tenant to another plan, at once and on every replica. Modules the new
    /// plan lacks are switched off (their data kept), and modules an earlier change
    /// switched off come back when the new plan has them.
    pub async fn change_plan(
        &self,
        tenant_key: &str,
        plan_key: &str,
        actor: &Actor<'_>,
    ) -> Result<PlanChanged, ProvisionError> {
        let view = self.find_tenant(tenant_key).await?;
        let tenant = &view.tenant;
        let plans = self.db.plans(true).await?;
        let plan = plans
            .iter()
            .find(|p| p.key == plan_key)
            .ok_or_else(|| ProvisionError::UnknownPlan(plan_key.to_owned()))?;
        if plan.retired_at.is_some() && tenant.plan != plan.key {
            return Err(ProvisionError::InvalidTransition(format!(
                "plan {plan_key} is retired and takes no new subscribers"
            )));
        }
        // Every module some plan sells that this one does not, and every installed
        // module this one allows: the transaction pauses and resumes from these what
        // the tenant's rows say, so a toggle at the same moment cannot be undone.
        let sold_elsewhere: Vec<String> = plans
            .iter()
            .flat_map(|p| p.modules.iter())
            .filter(|m| !allows(&plans, plan_key, m))
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let allowed: Vec<String> = self
            .runtime
            .modules()
            .iter()
            .map(|m| m.key.clone())
            .filter(|m| allows(&plans, plan_key, m))
            .collect();
        let target = format!("tenant:{}", tenant.subdomain);
        let audit = actor.audit(Some(&tenant.id), "tenant.plan", &target);
        let now = self.clock.now_ms();
        let reprice =
            |change: &crate::store::Repricing<'_>| self.billing.reprice(&plans, plan, now, change);
        let change = self
            .db
            .change_plan(
                &tenant.id,
                (plan_key, &sold_elsewhere, &allowed),
                &reprice,
                audit,
            )
            .await?
            .ok_or(ProvisionError::UnknownTenant)?;
        let changed = PlanChanged {
            tenant: tenant.subdomain.clone(),
            plan: plan_key.to_owned(),
            previous: change.previous,
            paused: change.paused,
            resumed: change.resumed,
            invoices: change.invoices,
        };
        self.published(&tenant.id).await?;
        tracing::info!(tenant = %tenant.subdomain, plan = plan_key, paused = ?changed.paused, resumed = ?changed.resumed, "plan changed");
        Ok(changed)
    }

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
        let subscribers = self
            .db
            .update_plan(&plan, audit)
            .await?
            .ok_or_else(|| ProvisionError::UnknownPlan(key.to_owned()))?;
        // Their cached views carry the plan's limits.
        for tenant_id in &subscribers {
            self.directory.invalidate(tenant_id);
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
    // The column is a 32-bit integer on PostgreSQL.
    if !(0..=i64::from(i32::MAX)).contains(&plan.sort_order) {
        problems.insert("sort_order".into(), "must be 0 to 2147483647".into());
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
