//! One integration-test binary; files mirror the API.

mod abuse;
mod accounts;
mod admin;
mod attendance;
mod audit;
mod auth;
mod bad_input;
mod billing;
mod cli;
mod complaints;
mod contracts;
mod crash;
mod demo_requests;
mod employees;
mod events;
mod files;
mod guide;
mod isolation;
mod limits;
mod metrics;
mod migrations;
mod notifications;
mod openapi;
mod packages;
mod plans;
mod provisioning;
mod python;
mod rate_limits;
mod replicas;
mod reports;
mod runtime;
mod sandbox;
mod schedules;
mod secrets;
mod shifts;
mod subscriptions;
mod tasks;
mod teams;
mod tenancy;
mod tenants;
mod timesheets;
mod toggle_load;
mod toggles;
mod wallet;

/// The `mosaic` command line, for tests that run it as a real process.
const MOSAIC: &str = env!("CARGO_BIN_EXE_mosaic-replica");
