//! Small durable documents next to the papers, in the same Qdrant: digest
//! subscriptions and each one's posting state. The embedded store keeps
//! them in a second shard under `<data-dir>/state`, the server in a second
//! collection `<collection>_state`, so a restart, a second bot process or a
//! move to the server keeps them.

use std::future::Future;

use serde_json::Value;

use super::StoreResult;

/// Documents by `(kind, key)`.
pub trait StateStore: Send + Sync {
    fn put_doc(&self, kind: &str, key: &str, doc: &Value) -> impl Future<Output = StoreResult<()>> + Send;
    fn get_doc(&self, kind: &str, key: &str) -> impl Future<Output = StoreResult<Option<Value>>> + Send;
    fn delete_doc(&self, kind: &str, key: &str) -> impl Future<Output = StoreResult<()>> + Send;
    /// Every `(key, doc)` of a kind.
    fn list_docs(&self, kind: &str) -> impl Future<Output = StoreResult<Vec<(String, Value)>>> + Send;
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
