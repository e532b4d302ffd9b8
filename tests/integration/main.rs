//! One integration-test binary; files mirror the API.

mod accounts;
mod admin;
mod attendance;
mod auth;
mod employees;
mod isolation;
mod limits;
mod runtime;
mod tenancy;
mod toggles;
