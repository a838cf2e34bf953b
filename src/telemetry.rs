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

/// Targets that log secrets at TRACE, capped whatever the user asks for:
/// tungstenite prints every outgoing websocket frame, and the gateway's
/// IDENTIFY frame carries the bot token.
const CAPS: [&str; 1] = ["tungstenite=debug"];

/// The log filter: `spec` (PAPERBOT_LOG / RUST_LOG syntax) or the default,
/// with the secret-bearing targets capped.
pub fn filter(spec: Option<&str>, default_level: &str) -> EnvFilter {
    // qdrant-edge logs start-up notes at WARN that are not actionable here.
    let mut f = spec
        .and_then(|s| EnvFilter::try_new(s).ok())
        .unwrap_or_else(|| EnvFilter::new(format!("{default_level},qdrant_edge=error,candle=warn")));
    for cap in CAPS {
        if let Ok(d) = cap.parse() {
            f = f.add_directive(d);
        }
    }
    f
}

/// Installs the global subscriber. `default_level` applies when no filter
/// variable is set.
pub fn init(format: LogFormat, default_level: &str) {
    let spec = std::env::var("PAPERBOT_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok();
    let filter = filter(spec.as_deref(), default_level);
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
