//! The operator's endpoint: `/healthz` and `/metrics` (Prometheus text
//! format), on `ops.listen`. It knows nothing of what it reports on: the
//! wiring hands it a [`Probe`] that runs the checks (gateway connected, store
//! reachable, …).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde::{Deserialize, Serialize};

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

/// One named health check: healthy or not, and what it saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

/// Runs every health check, for one `/healthz` request.
pub type Probe = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Vec<Check>> + Send>> + Send + Sync>;

pub fn router(probe: Probe) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(probe)
}

/// 200 when every check passes, else 503; the body names each check.
async fn healthz(State(probe): State<Probe>) -> impl IntoResponse {
    let checks = probe().await;
    let body: serde_json::Map<String, serde_json::Value> = checks
        .iter()
        .map(|c| (c.name.to_string(), c.detail.clone().into()))
        .collect();
    let status = if checks.iter().all(|c| c.ok) {
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

/// Serves [`router`] on `listener` until the process ends.
pub fn spawn(listener: tokio::net::TcpListener, probe: Probe) {
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router(probe)).await {
            tracing::error!(error = %e, "ops endpoint stopped");
        }
    });
}
