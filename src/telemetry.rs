//! Logging: `tracing` to stderr, filtered by `PAPERBOT_LOG` or `RUST_LOG`
//! (default `info`), as text or JSON lines.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Installs the global subscriber. `default_level` applies when no filter
/// variable is set.
pub fn init(format: LogFormat, default_level: &str) {
    let filter = std::env::var("PAPERBOT_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        // qdrant-edge logs start-up notes at WARN that are not actionable here.
        .unwrap_or_else(|| EnvFilter::new(format!("{default_level},qdrant_edge=error,candle=warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder.compact().try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
