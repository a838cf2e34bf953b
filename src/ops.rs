//! The operator's endpoint: `/healthz` (gateway connected, store reachable)
//! and `/metrics` (Prometheus text format), on `ops.listen`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde::{Deserialize, Serialize};

use crate::discord::Bot;
use crate::store::PaperStore;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OpsConfig {
    /// Address for `/healthz` and `/metrics` (`0.0.0.0:9184` in a
    /// container); unset: no endpoint.
    pub listen: Option<String>,
}

impl Default for OpsConfig {
    fn default() -> Self {
        OpsConfig {
            listen: Some("127.0.0.1:9184".into()),
        }
    }
}

pub fn router(bot: Arc<Bot>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(bot)
}

async fn healthz(State(bot): State<Arc<Bot>>) -> impl IntoResponse {
    let gateway = bot.connected.load(Ordering::Relaxed);
    let store = bot.answerer.library().store.count().await;
    let body = serde_json::json!({
        "gateway": if gateway { "connected" } else { "disconnected" },
        "store": match &store { Ok(n) => format!("ok ({n} papers)"), Err(e) => format!("error: {e}") },
    });
    let status = if gateway && store.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body))
}

async fn metrics() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        crate::metrics::metrics().encode(),
    )
}
