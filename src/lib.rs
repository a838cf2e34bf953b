//! paperbot answers questions about recent research papers, citing the
//! papers it used.
//!
//! The modules follow the data:
//!
//! - [`sources`]: Hugging Face daily papers, arXiv Atom, listing pages and
//!   JSONL exports become validated [`paper::Paper`] records;
//! - [`embed`]: dense vectors (local MiniLM via candle, or an
//!   OpenAI-compatible endpoint) and BM25 sparse vectors;
//! - [`store`]: one [`store::PaperStore`] trait over Qdrant — in-process
//!   Qdrant Edge by default, a Qdrant server/cluster over gRPC for scale;
//! - [`ingest`] writes papers idempotently ([`sync`] keeps doing it); [`retrieve`] finds them again;
//! - [`library::Library`] ties store and embedders together;
//! - [`answer`] turns retrieved abstracts into answers whose every citation
//!   is checked (LLM through any OpenAI-compatible API, or offline extracts);
//! - [`digest`]: what is new since a time, ranked, with an overview;
//! - [`discord`]: the serenity adapter (slash commands, mentions, threads);
//! - [`app`] wires it all from one [`config::Config`] (the only place,
//!   with the binary's CLI, that knows the whole configuration).
//!
//! See ARCHITECTURE.md for the invariants that keep these layers apart.

pub mod answer;
pub mod app;
pub mod backfill;
pub mod backup;
pub mod config;
pub mod digest;
pub mod discord;
pub mod embed;
pub mod eval;
pub mod ingest;
pub mod library;
pub mod logistic;
pub mod metrics;
pub mod on_demand;
pub mod ops;
pub mod paper;
pub mod reindex;
pub mod retrieve;
pub mod retry;
pub mod secret;
pub mod shares;
pub mod sources;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod text;

use std::sync::Once;

/// The `User-Agent` paperbot sends (APIs ask clients to identify themselves).
pub const USER_AGENT: &str = concat!(
    "paperbot/",
    env!("CARGO_PKG_VERSION"),
    " (+https://github.com/paperbot)"
);

/// Installs rustls' ring provider once. reqwest is built without a provider
/// of its own so the process has exactly one TLS stack (ring, shared with
/// tonic), and must be told which one to use.
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err means another provider was installed first; that one is used.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The one way this crate builds HTTP clients.
pub fn http_client_builder() -> reqwest::ClientBuilder {
    install_crypto_provider();
    reqwest::Client::builder().user_agent(USER_AGENT)
}
