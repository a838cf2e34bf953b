//! Small durable documents next to the papers, in the same Qdrant: digest
//! subscriptions and each one's posting state. The embedded store keeps
//! them in a second shard under `<data-dir>/state`, the server in a second
//! collection `<collection>_state`, so a restart, a second bot process or a
//! move to the server keeps them.

use std::future::Future;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::StoreResult;

/// Documents by `(kind, key)`.
pub trait StateStore: Send + Sync {
    fn put_doc(&self, kind: &str, key: &str, doc: &Value) -> impl Future<Output = StoreResult<()>> + Send;
    fn get_doc(&self, kind: &str, key: &str) -> impl Future<Output = StoreResult<Option<Value>>> + Send;
    fn delete_doc(&self, kind: &str, key: &str) -> impl Future<Output = StoreResult<()>> + Send;

    /// Every document, as `(kind, key, doc)` (for backups).
    fn all_docs(&self) -> impl Future<Output = StoreResult<Vec<(String, String, Value)>>> + Send;

    /// Every `(key, doc)` of a kind.
    fn list_docs(&self, kind: &str) -> impl Future<Output = StoreResult<Vec<(String, Value)>>> + Send {
        async move {
            Ok(self
                .all_docs()
                .await?
                .into_iter()
                .filter(|(k, _, _)| k == kind)
                .map(|(_, key, doc)| (key, doc))
                .collect())
        }
    }

    /// Adds `delta` to the number `field` of a document (created when
    /// missing) and returns the new total. Atomic on the embedded store, for
    /// every process sharing it; on a Qdrant server, atomic among the calls
    /// of one process (the server has no increment, so two processes may
    /// each read the old total before either writes).
    fn increment(
        &self,
        kind: &str,
        key: &str,
        field: &str,
        delta: u64,
    ) -> impl Future<Output = StoreResult<u64>> + Send;
}

/// `doc[field] + delta`, written back into `doc`.
pub fn add_to(doc: &mut Value, field: &str, delta: u64) -> u64 {
    let total = doc[field].as_u64().unwrap_or(0).saturating_add(delta);
    if !doc.is_object() {
        *doc = Value::Object(Default::default());
    }
    doc[field] = Value::from(total);
    total
}

/// One document, as backups carry it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateDoc {
    pub kind: String,
    pub key: String,
    pub doc: Value,
}

/// The point id of a document.
pub fn doc_uuid(kind: &str, key: &str) -> uuid::Uuid {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("paperbot-state/{kind}/{key}").as_bytes(),
    )
}

/// The payload a document is stored as.
pub fn doc_payload(kind: &str, key: &str, doc: &Value) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("kind".into(), Value::from(kind));
    m.insert("key".into(), Value::from(key));
    m.insert("doc".into(), doc.clone());
    m
}

/// `(kind, key, doc)` back from a payload.
pub fn from_payload(m: &serde_json::Map<String, Value>) -> Option<(String, String, Value)> {
    Some((
        m.get("kind")?.as_str()?.to_string(),
        m.get("key")?.as_str()?.to_string(),
        m.get("doc")?.clone(),
    ))
}

/// The one-dimensional vector every state point carries (Qdrant points need one).
pub const STATE_VECTOR: &str = "k";
