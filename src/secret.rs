//! Secrets: read from the environment only, never printed, never
//! serialised in clear. A leaf module: anything that needs a key takes a
//! [`Secret`], nothing here knows who uses it.

use std::fmt;

/// A secret string. `Debug` is redacted; the value is reachable only
/// through [`Secret::expose`], so every use is visible in the code.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Secret {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Secret {
        Secret(s.to_string())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Every secret paperbot reads, from the environment.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    pub qdrant_api_key: Option<Secret>,
    /// For the OpenAI-compatible embedder (falls back to `OPENAI_API_KEY`).
    pub embed_api_key: Option<Secret>,
    /// For the LLM endpoint (falls back to `OPENAI_API_KEY`).
    pub llm_api_key: Option<Secret>,
    /// The bot token (`DISCORD_TOKEN`, or `PAPERBOT_DISCORD_TOKEN`).
    pub discord_token: Option<Secret>,
}

/// `PAPERBOT_*` variables that hold secrets (so configuration loading skips them).
pub const SECRET_VARS: [&str; 4] = ["qdrant_api_key", "embed_api_key", "llm_api_key", "discord_token"];

impl Secrets {
    pub fn from_env() -> Secrets {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty()).map(Secret);
        Secrets {
            qdrant_api_key: var("PAPERBOT_QDRANT_API_KEY"),
            embed_api_key: var("PAPERBOT_EMBED_API_KEY").or_else(|| var("OPENAI_API_KEY")),
            llm_api_key: var("PAPERBOT_LLM_API_KEY").or_else(|| var("OPENAI_API_KEY")),
            discord_token: var("DISCORD_TOKEN").or_else(|| var("PAPERBOT_DISCORD_TOKEN")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted() {
        let s = Secret::from("sk-live-123");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        let all = Secrets {
            qdrant_api_key: Some(Secret::from("qk-1")),
            discord_token: Some(Secret::from("tok-2")),
            ..Default::default()
        };
        let shown = format!("{all:?}");
        assert!(!shown.contains("qk-1") && !shown.contains("tok-2"), "{shown}");
    }
}
