//! A module's routes: the manifest's (method, path pattern) pairs, checked at load
//! and matched against each request.

use std::collections::HashMap;

use super::types::RouteSpec;
use crate::auth::Role;

/// A route of the manifest that matched a request.
#[derive(Debug)]
pub struct RouteMatch {
    pub pattern: String,
    pub params: Vec<(String, String)>,
    pub min_role: Option<Role>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum RouteMiss {
    NotFound,
    MethodNotAllowed,
}

pub(super) struct RouteTable {
    /// Path pattern → the methods it serves.
    paths: matchit::Router<usize>,
    methods: Vec<Vec<(String, Option<Role>, String)>>,
}

impl RouteTable {
    pub(super) fn build(routes: &[RouteSpec]) -> Result<Self, String> {
        let mut paths = matchit::Router::new();
        let mut methods: Vec<Vec<(String, Option<Role>, String)>> = Vec::new();
        let mut slot_of: HashMap<&str, usize> = HashMap::new();
        for route in routes {
            let method = route.method.to_ascii_uppercase();
            if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
                return Err(format!(
                    "route {} has unsupported method {}",
                    route.path, route.method
                ));
            }
            if !route.path.starts_with('/') {
                return Err(format!("route path {:?} must start with /", route.path));
            }
            let slot = match slot_of.get(route.path.as_str()) {
                Some(slot) => *slot,
                None => {
                    let slot = methods.len();
                    paths
                        .insert(route.path.clone(), slot)
                        .map_err(|e| format!("route {}: {e}", route.path))?;
                    methods.push(Vec::new());
                    slot_of.insert(route.path.as_str(), slot);
                    slot
                }
            };
            if methods[slot].iter().any(|(m, _, _)| *m == method) {
                return Err(format!("route {method} {} is declared twice", route.path));
            }
            methods[slot].push((method, route.min_role, route.path.clone()));
        }
        Ok(Self { paths, methods })
    }

    pub(super) fn find(&self, method: &str, path: &str) -> Result<RouteMatch, RouteMiss> {
        let matched = self.paths.at(path).map_err(|_| RouteMiss::NotFound)?;
        let (_, min_role, pattern) = self.methods[*matched.value]
            .iter()
            .find(|(m, _, _)| m == method)
            .ok_or(RouteMiss::MethodNotAllowed)?;
        Ok(RouteMatch {
            pattern: pattern.clone(),
            params: matched
                .params
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            min_role: *min_role,
        })
    }
}
