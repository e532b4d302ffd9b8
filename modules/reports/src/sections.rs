//! The sections of a report: which module owns each figure, and where it answers.

use mosaic_sdk::prelude::*;
use mosaic_sdk::time::Period;
use mosaic_sdk::{log, modules};
use serde_json::{Value, json};

pub struct Section {
    pub key: &'static str,
    /// The module asked, and its route (given the period as `from` and `to`).
    pub module: &'static str,
    path: &'static str,
    /// The list in the figures that its CSV is a table of, and that table's columns;
    /// a section without is exported as `metric,value` rows.
    pub table: Option<(&'static str, &'static [&'static str])>,
}

pub const SECTIONS: &[Section] = &[
    Section {
        key: "headcount",
        module: "employees",
        path: "/stats",
        table: Some((
            "by_department",
            &["department", "total", "active", "inactive"],
        )),
    },
    Section {
        key: "attendance",
        module: "attendance",
        path: "/summary",
        table: Some((
            "employees",
            &[
                "employee_id",
                "name",
                "department",
                "days_present",
                "hours",
                "late_days",
                "late_minutes",
                "early_leave_days",
                "attendance_rate",
            ],
        )),
    },
    Section {
        key: "tasks",
        module: "tasks",
        path: "/stats",
        table: None,
    },
    Section {
        key: "complaints",
        module: "complaints",
        path: "/stats",
        table: None,
    },
    Section {
        key: "payouts",
        module: "wallet",
        path: "/payouts/summary",
        table: Some((
            "periods",
            &["period", "paid", "total", "currency", "skipped", "at"],
        )),
    },
];

/// A section's figures (`"available": true` among them), or why there are none.
pub struct Gathered {
    pub figures: Value,
    /// Whether the source module was called.
    pub called: bool,
}

impl Section {
    /// Asks the owning module for the period's figures. Whatever goes wrong there
    /// (disabled, a refusal, a trap, an unreadable answer) marks the section only.
    pub fn gather(&self, period: &Period) -> Gathered {
        if !modules::enabled(self.module) {
            return Gathered {
                figures: self.unavailable(&format!(
                    "The {} module is not enabled for this company",
                    self.module
                )),
                called: false,
            };
        }
        let path = format!("{}?{}", self.path, period.to_query());
        let answer = modules::call::<()>(self.module, "GET", &path, None).and_then(|reply| {
            if reply.is_success() {
                return reply.json::<Value>().map(Ok);
            }
            let said: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
            let error = said["error"].as_str().unwrap_or("no reason given");
            Ok(Err(format!(
                "The {} module answered {}: {error}",
                self.module, reply.status
            )))
        });
        let figures = match answer {
            Ok(Ok(Value::Object(mut figures))) => {
                figures.insert("available".into(), json!(true));
                Value::Object(figures)
            }
            Ok(Ok(_)) => self.unavailable(&format!(
                "The {} module answered something other than figures",
                self.module
            )),
            Ok(Err(reason)) => self.unavailable(&reason),
            Err(Error::Unavailable(reason)) => self.unavailable(&reason),
            Err(err) => {
                log::warn(&format!("report section {}: {err:?}", self.key));
                self.unavailable(&format!("The {} module could not answer", self.module))
            }
        };
        Gathered {
            figures,
            called: true,
        }
    }

    fn unavailable(&self, reason: &str) -> Value {
        json!({"available": false, "module": self.module, "reason": reason})
    }
}
