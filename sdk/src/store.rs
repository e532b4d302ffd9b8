//! Documents in named collections, private to this module and tenant.
//!
//! Documents cross the boundary as JSON text; parse one only where you need its
//! fields, and use [`Document::to_json`] to answer with it unparsed.

use serde::{Serialize, de::DeserializeOwned};

use crate::bindings::mosaic::platform::store as wit;
use crate::bindings::mosaic::platform::types::Error as HostError;
use crate::{Error, Request, Result};

pub use wit::Op;

/// A stored document.
#[derive(Debug, Clone)]
pub struct Document {
    pub id: String,
    pub version: u64,
    /// A JSON object.
    pub data: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: u64,
    pub updated_at: u64,
}

impl Document {
    fn from_wit(doc: wit::Document) -> Self {
        Self {
            id: doc.id,
            version: doc.version,
            data: doc.data,
            created_at: doc.created_at,
            updated_at: doc.updated_at,
        }
    }

    /// The data as `T`.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_str(&self.data)
            .map_err(|e| Error::Internal(format!("stored document {} is unreadable: {e}", self.id)))
    }

    /// The data object with `id`, `version`, `created_at` and `updated_at` added, as
    /// JSON text, without parsing the data.
    pub fn to_json(&self) -> String {
        let body = self.data.trim_start();
        let rest = body.strip_prefix('{').unwrap_or(body).trim_start();
        let sep = if rest.starts_with('}') { "" } else { "," };
        let id = serde_json::to_string(&self.id).unwrap_or_default();
        format!(
            "{{\"id\":{id},\"version\":{},\"created_at\":{},\"updated_at\":{}{sep}{rest}",
            self.version, self.created_at, self.updated_at
        )
    }
}

/// Renders documents as a JSON array with [`Document::to_json`].
pub fn to_json_array(docs: &[Document]) -> String {
    let mut out = String::with_capacity(docs.iter().map(|d| d.data.len() + 96).sum::<usize>() + 2);
    out.push('[');
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&doc.to_json());
    }
    out.push(']');
    out
}

/// A filter value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Null,
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Text(v.into())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Integer(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Self::Float(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Self::Boolean(v)
    }
}

impl Value {
    fn into_wit(self) -> wit::Value {
        match self {
            Self::Text(v) => wit::Value::Text(v),
            Self::Integer(v) => wit::Value::Integer(v),
            Self::Float(v) => wit::Value::Float(v),
            Self::Boolean(v) => wit::Value::Boolean(v),
            Self::Null => wit::Value::Null,
        }
    }
}

/// A named collection of this module, and its indexes: declared once, as a
/// constant, and given to [`crate::Manifest::collection`].
///
/// ```ignore
/// const EMPLOYEES: Collection = store::collection("employees")
///     .indexes(&[Index::unique(&["email"]), Index::on(&["department"])]);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Collection {
    name: &'static str,
    indexes: &'static [Index],
}

/// The collection `name` (`a-z`, `0-9`, `_`, `-`).
pub const fn collection(name: &'static str) -> Collection {
    Collection { name, indexes: &[] }
}

/// An index of a collection over one or more data fields (dotted paths allowed).
#[derive(Debug, Clone, Copy)]
pub struct Index {
    pub(crate) fields: &'static [&'static str],
    pub(crate) unique: bool,
}

impl Index {
    /// The host refuses a write that would give two documents the same values of
    /// `fields` (a 409 `conflict` naming the index). Documents missing a field, or
    /// with it null, are not held to it.
    pub const fn unique(fields: &'static [&'static str]) -> Self {
        Self {
            fields,
            unique: true,
        }
    }

    /// An index for the queries that filter on `fields`: an equality on them, or
    /// a range on the first. The host builds it the first time the collection is
    /// queried.
    pub const fn on(fields: &'static [&'static str]) -> Self {
        Self {
            fields,
            unique: false,
        }
    }
}

fn to_text<T: Serialize + ?Sized>(data: &T) -> Result<String> {
    serde_json::to_string(data).map_err(|e| Error::Internal(e.to_string()))
}

impl Collection {
    /// The collection with these indexes.
    pub const fn indexes(self, indexes: &'static [Index]) -> Self {
        Self {
            name: self.name,
            indexes,
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub(crate) fn declared_indexes(&self) -> &'static [Index] {
        self.indexes
    }

    pub fn get(&self, id: &str) -> Result<Option<Document>> {
        Ok(wit::get(self.name, id)?.map(Document::from_wit))
    }

    /// Like [`Collection::get`], but a missing document is a 404 naming `what`.
    pub fn fetch(&self, id: &str, what: &str) -> Result<Document> {
        self.get(id)?
            .ok_or_else(|| Error::NotFound(format!("{what} {id} not found")))
    }

    /// Stores `data` (a JSON object) under a new host-made id.
    pub fn insert<T: Serialize + ?Sized>(&self, data: &T) -> Result<Document> {
        Ok(Document::from_wit(wit::insert(
            self.name,
            None,
            &to_text(data)?,
        )?))
    }

    pub fn insert_with_id<T: Serialize + ?Sized>(&self, id: &str, data: &T) -> Result<Document> {
        Ok(Document::from_wit(wit::insert(
            self.name,
            Some(id),
            &to_text(data)?,
        )?))
    }

    /// Replaces the data; `expected_version` guards against a concurrent update.
    pub fn update<T: Serialize + ?Sized>(
        &self,
        id: &str,
        expected_version: Option<u64>,
        data: &T,
    ) -> Result<Document> {
        Ok(Document::from_wit(wit::update(
            self.name,
            id,
            expected_version,
            &to_text(data)?,
        )?))
    }

    pub fn delete(&self, id: &str, expected_version: Option<u64>) -> Result<bool> {
        Ok(wit::delete(self.name, id, expected_version)?)
    }

    pub fn query(&self) -> Query {
        Query {
            selection: wit::Selection {
                collection: self.name.into(),
                filters: Vec::new(),
                order_by: None,
                descending: false,
                limit: 50,
                cursor: None,
            },
        }
    }

    pub fn count(&self, filters: Query) -> Result<u64> {
        Ok(wit::count(self.name, &filters.selection.filters)?)
    }
}

/// Writes that succeed or fail together, across collections of this module.
#[derive(Debug, Default)]
pub struct Batch {
    writes: Vec<wit::Write>,
}

impl Batch {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert<T: Serialize + ?Sized>(
        mut self,
        collection: Collection,
        data: &T,
    ) -> Result<Self> {
        self.writes.push(wit::Write::Insert(wit::InsertOp {
            collection: collection.name.into(),
            id: None,
            data: to_text(data)?,
        }));
        Ok(self)
    }

    pub fn insert_with_id<T: Serialize + ?Sized>(
        mut self,
        collection: Collection,
        id: &str,
        data: &T,
    ) -> Result<Self> {
        self.writes.push(wit::Write::Insert(wit::InsertOp {
            collection: collection.name.into(),
            id: Some(id.into()),
            data: to_text(data)?,
        }));
        Ok(self)
    }

    pub fn update<T: Serialize + ?Sized>(
        mut self,
        collection: Collection,
        id: &str,
        expected_version: Option<u64>,
        data: &T,
    ) -> Result<Self> {
        self.writes.push(wit::Write::Update(wit::UpdateOp {
            collection: collection.name.into(),
            id: id.into(),
            expected_version,
            data: to_text(data)?,
        }));
        Ok(self)
    }

    pub fn delete(
        mut self,
        collection: Collection,
        id: &str,
        expected_version: Option<u64>,
    ) -> Self {
        self.writes.push(wit::Write::Delete(wit::DeleteOp {
            collection: collection.name.into(),
            id: id.into(),
            expected_version,
        }));
        self
    }

    /// Applies every write or none; the documents written, in order (none for deletes).
    pub fn commit(self) -> Result<Vec<Option<Document>>> {
        Ok(wit::batch(&self.writes)?
            .into_iter()
            .map(|d| d.map(Document::from_wit))
            .collect())
    }
}

/// A query over one collection.
#[derive(Debug, Clone)]
pub struct Query {
    selection: wit::Selection,
}

/// One page of results.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<Document>,
    /// Pass to [`Query::cursor`] for the next page; none on the last page.
    pub next_cursor: Option<String>,
}

impl Page {
    /// `{"items": [...], "next_cursor": ...}`, items rendered with [`Document::to_json`].
    pub fn to_json(&self) -> String {
        let next = self.next_cursor.as_deref().map_or_else(
            || "null".to_owned(),
            |c| serde_json::to_string(c).unwrap_or_default(),
        );
        format!(
            "{{\"items\":{},\"next_cursor\":{next}}}",
            to_json_array(&self.items)
        )
    }
}

impl Query {
    pub fn filter(mut self, field: &str, op: Op, value: impl Into<Value>) -> Self {
        self.selection.filters.push(wit::Filter {
            field: field.into(),
            op,
            value: value.into().into_wit(),
        });
        self
    }

    /// `field == value`.
    pub fn eq(self, field: &str, value: impl Into<Value>) -> Self {
        self.filter(field, Op::Eq, value)
    }

    pub fn order_by(mut self, field: &str, descending: bool) -> Self {
        self.selection.order_by = Some(field.into());
        self.selection.descending = descending;
        self
    }

    /// Page size, 1 to 500. The host also ends a page at 4 MiB of documents, so a
    /// page may hold fewer items: follow `next_cursor` while there is one.
    pub fn limit(mut self, limit: u32) -> Self {
        self.selection.limit = limit;
        self
    }

    pub fn cursor(mut self, cursor: Option<&str>) -> Self {
        self.selection.cursor = cursor.map(str::to_owned);
        self
    }

    /// The page a list route's client asks for: `?limit=` (50 by default, 1 to 500;
    /// a 422 on `limit` otherwise) and `?cursor=` from the previous page's
    /// `next_cursor`.
    pub fn paged(self, req: &Request) -> Result<Self> {
        let limit = req.query_u32("limit")?.unwrap_or(50);
        if !(1..=500).contains(&limit) {
            return Err(Error::invalid_field("limit", "must be from 1 to 500"));
        }
        Ok(self.limit(limit).cursor(req.query("cursor")))
    }

    /// Calls `visit` with every document the query selects, page after page (of
    /// the query's limit), for routes that aggregate a whole collection.
    pub fn each(&self, mut visit: impl FnMut(&Document) -> Result<()>) -> Result<()> {
        let mut query = self.clone();
        loop {
            let page = query.fetch()?;
            page.items.iter().try_for_each(&mut visit)?;
            match page.next_cursor {
                Some(next) => query.selection.cursor = Some(next),
                None => return Ok(()),
            }
        }
    }

    /// Narrows to documents whose date `field` (`YYYY-MM-DD`) is the request's
    /// `?date=`, or from `?from=` to `?to=` (inclusive); a 422 for a malformed date.
    pub fn dated(mut self, req: &Request, field: &str) -> Result<Self> {
        for (param, op) in [("date", Op::Eq), ("from", Op::Ge), ("to", Op::Le)] {
            if let Some(text) = req.query(param) {
                let date = crate::time::query_date(param, text)?;
                self = self.filter(field, op, date.to_string());
            }
        }
        Ok(self)
    }

    pub fn fetch(&self) -> Result<Page> {
        // The cursor is the one part of a query a client supplies; a bad one is the
        // client's mistake (422), while any other refusal is the module's bug.
        let page = wit::query(&self.selection).map_err(|err| match err {
            HostError::Invalid(m) if self.selection.cursor.is_some() && m.contains("cursor") => {
                Error::invalid_field("cursor", "is not a cursor from a previous page")
            }
            other => other.into(),
        })?;
        Ok(Page {
            items: page.items.into_iter().map(Document::from_wit).collect(),
            next_cursor: page.next_cursor,
        })
    }
}
