//! `notify`: messages to people of the tenant. An in-app notification is written to
//! the inbox the notifications module serves, in the sender's unit of work; a mail
//! is queued when the user's preferences for the message's kind ask for one, once
//! that unit of work has committed.

use serde_json::{Value, json};

use super::internal;
use crate::runtime::CallContext;
use crate::runtime::registry::is_event_kind;
use crate::runtime::types::{Capability, HostError};
use crate::store::Realm;
use crate::store::records::Scope;

/// The module that serves in-app notifications, and its collections: the layout
/// of those two is shared by the host and that module.
pub const NOTIFICATIONS: &str = "notifications";
pub const INBOX: &str = "inbox";
pub const PREFERENCES: &str = "preferences";

const MAX_SUBJECT_BYTES: usize = 200;
const MAX_BODY_BYTES: usize = 4096;
/// Messages one request may send, its nested calls included.
const MAX_PER_REQUEST: usize = 100;

/// A message for a user of the tenant, named by id or by email address.
pub struct Message {
    pub to_user: Option<String>,
    pub to_email: Option<String>,
    pub kind: String,
    pub subject: String,
    pub body: String,
}

/// A mail to queue once the unit of work that asked for it commits.
#[derive(Debug, Clone)]
pub struct QueuedMail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// Whether a user wants messages of `kind` in the app and by mail: the entry for the
/// kind, else the one for `*`, else in the app only.
fn wants(preferences: &Value, kind: &str) -> (bool, bool) {
    let kinds = &preferences["kinds"];
    let entry = if kinds[kind].is_object() {
        &kinds[kind]
    } else {
        &kinds["*"]
    };
    (
        entry["in_app"].as_bool().unwrap_or(true),
        entry["email"].as_bool().unwrap_or(false),
    )
}

pub async fn send(ctx: &CallContext, message: Message) -> Result<(), HostError> {
    ctx.require(Capability::Notify, "sending notifications")?;
    if !is_event_kind(&message.kind) {
        return Err(HostError::Invalid(format!(
            "invalid notification kind {:?}",
            message.kind
        )));
    }
    if message.subject.len() > MAX_SUBJECT_BYTES || message.body.len() > MAX_BODY_BYTES {
        return Err(HostError::Invalid(format!(
            "a subject is at most {MAX_SUBJECT_BYTES} bytes and a body at most {MAX_BODY_BYTES}"
        )));
    }
    if ctx.uow.count_message() > MAX_PER_REQUEST {
        return Err(HostError::Invalid(format!(
            "a request may send at most {MAX_PER_REQUEST} messages"
        )));
    }
    let inbox = ctx
        .runtime
        .gate(&ctx.tenant, NOTIFICATIONS)
        .ok_or_else(|| HostError::Unavailable("in-app notifications are not installed".into()))?;
    let tenant_id = ctx.tenant.tenant.id.as_str();
    let main = ctx.uow.main_db();
    let realm = Realm::Tenant(tenant_id);
    let account = match (&message.to_user, &message.to_email) {
        (Some(id), _) => main.account_by_id(realm, id).await,
        (None, Some(email)) => main.account_by_email(realm, &email.to_lowercase()).await,
        (None, None) => {
            return Err(HostError::Invalid(
                "a message needs to-user or to-email".into(),
            ));
        }
    }
    .map_err(|e| internal(ctx, &e))?;
    // Only people of this tenant: no user, no message (and no mail to strangers).
    let account = account.ok_or(HostError::NotFound)?;
    let records = ctx.uow.records();
    let scope = Scope {
        tenant_id,
        module: NOTIFICATIONS,
    };
    let preferences = ctx
        .uow
        .read(async |conn| records.get(conn, scope, PREFERENCES, &account.id).await)
        .await;
    let preferences = match preferences {
        Ok(Ok(doc)) => doc
            .and_then(|d| serde_json::from_str(&d.data).ok())
            .unwrap_or(Value::Null),
        Ok(Err(e)) => return Err(internal(ctx, &format!("{e:?}"))),
        Err(e) => return Err(internal(ctx, &e)),
    };
    let (in_app, email) = wants(&preferences, &message.kind);
    if in_app {
        let data = json!({
            "user_id": account.id,
            "kind": message.kind,
            "subject": message.subject,
            "body": message.body,
            "source": ctx.module.key,
            "read": false,
            "at": crate::store::now_ms(),
        })
        .to_string();
        let written = ctx
            .uow
            .write(async |conn| {
                records
                    .insert(conn, scope, &inbox.unique_indexes, INBOX, None, data)
                    .await
            })
            .await;
        match written {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(internal(ctx, &format!("{e:?}"))),
            Err(e) => return Err(internal(ctx, &e)),
        }
    }
    if email {
        ctx.uow.queue_mail(QueuedMail {
            to: account.email,
            subject: message.subject,
            body: message.body,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::wants;

    #[test]
    fn preferences_by_kind_then_default() {
        let prefs = json!({"kinds": {
            "task.assigned": {"in_app": false, "email": true},
            "*": {"email": true},
        }});
        assert_eq!(wants(&prefs, "task.assigned"), (false, true));
        assert_eq!(wants(&prefs, "employee.created"), (true, true));
        assert_eq!(wants(&json!(null), "employee.created"), (true, false));
    }
}
