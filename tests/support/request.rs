//! A request to a test host, and its response read whole.

use reqwest::StatusCode;
use serde_json::{Value, json};

pub struct Req {
    pub(crate) builder: reqwest::RequestBuilder,
}

/// A response read whole: status, headers, and the body as JSON (or null).
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
    pub bytes: Vec<u8>,
}

impl Req {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.builder = self.builder.header(name, value);
        self
    }

    pub fn bearer(mut self, token: &str) -> Self {
        self.builder = self.builder.bearer_auth(token);
        self
    }

    pub fn json(mut self, body: &Value) -> Self {
        self.builder = self.builder.json(body);
        self
    }

    /// A raw body sent as JSON, for malformed input.
    pub fn raw(mut self, body: impl Into<reqwest::Body>) -> Self {
        self.builder = self
            .builder
            .header("content-type", "application/json")
            .body(body);
        self
    }

    /// A body sent as it is, with whatever content type the request names.
    pub fn raw_bytes(mut self, body: Vec<u8>) -> Self {
        self.builder = self.builder.body(body);
        self
    }

    /// A `multipart/form-data` body.
    pub fn multipart(mut self, form: reqwest::multipart::Form) -> Self {
        self.builder = self.builder.multipart(form);
        self
    }

    pub async fn send(self) -> Resp {
        let response = self.builder.send().await.expect("request sent");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body read").to_vec();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            text,
            bytes,
        }
    }
}

impl Resp {
    /// Asserts the status, showing the body when it is wrong.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }

    /// Asserts the module gate's refusal of a module the tenant has not switched on:
    /// a 403 with exactly `{"error":"Module not enabled","module":..,"upgrade":true}`.
    #[track_caller]
    pub fn expect_gated(self, module: &str) -> Self {
        let resp = self.expect(403);
        assert_eq!(
            resp.body,
            json!({"error": "Module not enabled", "module": module, "upgrade": true})
        );
        resp
    }

    /// Asserts an error in the host's JSON shape with this code.
    #[track_caller]
    pub fn expect_error(self, status: u16, code: &str) -> Self {
        let resp = self.expect(status);
        assert_eq!(resp.body["code"], code, "body: {}", resp.text);
        assert!(resp.body["error"].is_string(), "body: {}", resp.text);
        resp
    }
}
