//! What a platform admin lets an installed module do. Its manifest only requests
//! capabilities, dependencies and subscriptions; a grant decides each of them. The
//! host's shipped modules are granted what they declare.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::types::Manifest;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum GrantKind {
    Capability,
    Dependency,
    Subscription,
}

impl GrantKind {
    pub const ALL: [Self; 3] = [Self::Capability, Self::Dependency, Self::Subscription];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Capability => "capability",
            Self::Dependency => "dependency",
            Self::Subscription => "subscription",
        }
    }

    pub fn parse(kind: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == kind)
    }
}

/// One thing a manifest requests: a capability (`files`), a dependency (a module
/// key) or a subscription (an event pattern).
pub type Request = (GrantKind, String);

/// What a manifest requests, in a stable order.
pub fn requests(manifest: &Manifest) -> Vec<Request> {
    let capabilities = manifest
        .capabilities
        .iter()
        .map(|c| (GrantKind::Capability, c.as_str().to_owned()));
    let dependencies = manifest
        .dependencies
        .iter()
        .map(|d| (GrantKind::Dependency, d.clone()));
    let subscriptions = manifest
        .subscriptions
        .iter()
        .map(|s| (GrantKind::Subscription, s.clone()));
    let mut all: Vec<Request> = capabilities
        .chain(dependencies)
        .chain(subscriptions)
        .collect();
    all.sort();
    all.dedup();
    all
}

/// The decisions on one module key: each request allowed or refused. A request with
/// no decision is refused too, and keeps a version that makes it from serving.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grant {
    decisions: BTreeMap<Request, bool>,
}

impl Grant {
    pub fn from_decisions(decisions: impl IntoIterator<Item = (Request, bool)>) -> Self {
        Self {
            decisions: decisions.into_iter().collect(),
        }
    }

    pub fn allows(&self, kind: GrantKind, item: &str) -> bool {
        self.decisions
            .get(&(kind, item.to_owned()))
            .copied()
            .unwrap_or(false)
    }

    pub fn has_decided(&self, request: &Request) -> bool {
        self.decisions.contains_key(request)
    }

    /// What `manifest` requests that nobody has decided yet.
    pub fn undecided(&self, manifest: &Manifest) -> Vec<Request> {
        requests(manifest)
            .into_iter()
            .filter(|r| !self.has_decided(r))
            .collect()
    }

    /// These decisions, with `decisions` taking the place of earlier ones on the
    /// same requests.
    pub fn merged(&self, decisions: impl IntoIterator<Item = (Request, bool)>) -> Self {
        let mut merged = self.decisions.clone();
        merged.extend(decisions);
        Self { decisions: merged }
    }

    pub fn decisions(&self) -> impl Iterator<Item = (&Request, bool)> {
        self.decisions.iter().map(|(r, allowed)| (r, *allowed))
    }
}

/// How a module may use what it declares: all of it (shipped with the host), or
/// what its grant allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Permits {
    Declared,
    Granted(Grant),
}

/// Why a module may not use something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// Its manifest does not declare it.
    Undeclared,
    /// Declared, but the platform admin did not grant it.
    NotGranted,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_undecided_request_is_not_allowed() {
        let grant = Grant::from_decisions([
            ((GrantKind::Capability, "files".to_owned()), true),
            ((GrantKind::Capability, "billing".to_owned()), false),
        ]);
        assert!(grant.allows(GrantKind::Capability, "files"));
        assert!(!grant.allows(GrantKind::Capability, "billing"));
        assert!(!grant.allows(GrantKind::Capability, "notify"));
        assert!(!grant.allows(GrantKind::Dependency, "files"));
    }
}
