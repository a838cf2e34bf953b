//! Configuration: defaults that work with zero setup, overridden by
//! `paperbot.toml` (or `--config FILE`), then by `PAPERBOT_*` environment
//! variables (`__` separates sections: `PAPERBOT_EMBED__BATCH_SIZE=16`), then
//! by command-line flags. Unknown keys are errors that name the key.
//!
//! Secrets never live here: they are read from the environment only
//! ([`Secrets`]) and are redacted wherever they could be printed.

use std::fmt;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::answer::AnswerConfig;
use crate::answer::llm::LlmConfig;
use crate::discord::DiscordConfig;
use crate::embed::EmbedConfig;
use crate::ops::OpsConfig;
use crate::sources::HttpConfig;
use crate::store::SearchMode;
use crate::sync::SyncConfig;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Holds the embedded store (and its lock file).
    pub data_dir: PathBuf,
    pub store: StoreConfig,
    pub embed: EmbedConfig,
    pub http: HttpConfig,
    pub search: SearchConfig,
    pub answer: AnswerConfig,
    pub llm: LlmConfig,
    pub discord: DiscordConfig,
    pub sync: SyncConfig,
    pub ops: OpsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("data"),
            store: StoreConfig::default(),
            embed: EmbedConfig::default(),
            http: HttpConfig::default(),
            search: SearchConfig::default(),
            answer: AnswerConfig::default(),
            llm: LlmConfig::default(),
            discord: DiscordConfig::default(),
            sync: SyncConfig::default(),
            ops: OpsConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// A Qdrant server's gRPC URL (e.g. `http://localhost:6334`). Unset: the
    /// embedded Qdrant Edge store under `data_dir`.
    pub qdrant_url: Option<String>,
    pub collection: String,
    /// Server only: shards and replicas for a cluster.
    pub shard_number: Option<u32>,
    pub replication_factor: Option<u32>,
    pub timeout_secs: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            qdrant_url: None,
            collection: "papers".into(),
            shard_number: None,
            replication_factor: None,
            timeout_secs: 30,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SearchConfig {
    pub k: usize,
    pub mode: SearchMode,
    /// Candidates each retriever contributes to fusion.
    pub prefetch: usize,
    /// Below this cosine for the best dense match, nothing in the library is
    /// relevant (calibrated with `paperbot eval`).
    pub min_relevance: f32,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            k: 10,
            mode: SearchMode::Hybrid,
            prefetch: 50,
            min_relevance: 0.35,
        }
    }
}

/// Environment variables that hold secrets, not configuration.
const SECRET_VARS: [&str; 4] = ["qdrant_api_key", "embed_api_key", "llm_api_key", "discord_token"];
/// `PAPERBOT_*` variables that steer loading rather than set keys.
const CONTROL_VARS: [&str; 2] = ["config", "log"];

impl Config {
    /// Loads defaults ← file ← environment. `file` None means `paperbot.toml`
    /// if present (or `PAPERBOT_CONFIG`).
    pub fn load(file: Option<&Path>) -> Result<Config, figment::Error> {
        Self::figment(file).extract()
    }

    pub fn figment(file: Option<&Path>) -> Figment {
        let path = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("PAPERBOT_CONFIG").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("paperbot.toml"));
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if file.is_some() || path.exists() {
            figment = figment.merge(Toml::file_exact(path));
        }
        figment.merge(
            Env::prefixed("PAPERBOT_")
                .ignore(&SECRET_VARS)
                .ignore(&CONTROL_VARS)
                .map(|k| {
                    let key = k.as_str().to_ascii_lowercase();
                    match key.as_str() {
                        // Short aliases documented in the README.
                        "qdrant_url" => "store.qdrant_url".into(),
                        _ => key.replace("__", ".").into(),
                    }
                }),
        )
    }
}

/// A secret string: never printed, never serialised in clear.
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

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Secrets, from the environment only.
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
    fn defaults_need_no_configuration() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            let c = Config::load(None)?;
            assert_eq!(c, Config::default());
            assert_eq!(c.data_dir, PathBuf::from("data"));
            assert!(c.store.qdrant_url.is_none());
            Ok(())
        });
    }

    #[test]
    fn file_then_env_override_and_unknown_keys_fail() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file("paperbot.toml", "data_dir = \"from-file\"\n[embed]\nbatch_size = 8\n")?;
            jail.set_env("PAPERBOT_EMBED__BATCH_SIZE", "4");
            jail.set_env("PAPERBOT_QDRANT_URL", "http://localhost:6334");
            jail.set_env("PAPERBOT_QDRANT_API_KEY", "sekrit");
            let c = Config::load(None)?;
            assert_eq!(c.data_dir, PathBuf::from("from-file"));
            assert_eq!(c.embed.batch_size, 4);
            assert_eq!(c.store.qdrant_url.as_deref(), Some("http://localhost:6334"));

            jail.create_file("paperbot.toml", "[embed]\nbatch_sise = 8\n")?;
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("batch_sise"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn secrets_are_redacted() {
        let s = Secret("sk-live-123".into());
        assert_eq!(format!("{s:?}"), "Secret(***)");
    }
}
