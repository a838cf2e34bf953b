//! paperbot's integration tests: one binary, so candle, qdrant-edge,
//! serenity and the fake Discord are compiled and linked once (ripgrep's
//! `tests/tests.rs` pattern). Every server a test talks to runs on 127.0.0.1
//! (`support`); nothing reaches the network. A test that needs the real
//! binary runs it as a child process (`CARGO_BIN_EXE_paperbot`). No test
//! depends on running alone: process-wide state (metrics, the environment)
//! is only read as differences, and child processes get their own
//! environment.

// The fake Discord's handlers return axum `Response`s as errors, as axum does.
#![allow(clippy::result_large_err)]

mod support; // shipped data, local servers, the fake Discord, the scripted LLM

mod answer; // cited answers and every LLM fault, against the scripted LLM
mod backfill; // months of arXiv by OAI-PMH or snapshot, killed and resumed
mod cli; // the binary end to end on the embedded store
mod compose; // compose files against the compose specification's schema
mod crash; // a killed or interrupted ingest keeps what it wrote
mod digest_sync; // continuous ingestion over replayed HF days, and digests
mod discord; // the bot through the real serenity client against the fake Discord
mod discord_secrets; // no token or key in the logs, even at TRACE
mod dockerignore; // the image build context: no secrets, no bulk, all sources
mod embed_openai; // the OpenAI-compatible embedder and reindex
mod embed_reference; // MiniLM engines against sentence-transformers' vectors
mod eval_quality; // the retrieval quality bar on the eval set
mod fake_discord_selftest; // the fake Discord behaves as Discord does
mod http_sources; // HF and arXiv APIs against local replaying servers
mod layering; // only the wiring layer knows the whole configuration
mod llama_server; // `ask` against llama.cpp's server (gated on LLAMA_PYTHON)
mod model_fetch; // fetching the model from a local package index
mod on_demand; // papers by id or link, fetched from a strict local arXiv
mod sentence_support; // every answer sentence checked against its sources
mod sharing; // one data directory, many processes: the CLI beside the bot
mod sources; // every parser on real and hostile input
mod store; // one behaviour suite for every store backend
