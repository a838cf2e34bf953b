//! The user's settings, as one tree: defaults that work with zero setup,
//! overridden by `paperbot.toml` (or `--config FILE`), then by `PAPERBOT_*`
//! environment variables (`__` separates sections:
//! `PAPERBOT_EMBED__BATCH_SIZE=16`), then by command-line flags. Unknown keys
//! are errors that name the key.
//!
//! Each section is owned by the module it configures ([`StoreConfig`] by
//! `store`, [`SearchConfig`] by `retrieve`, …); this root only gathers them.
//! Part of the wiring layer: only [`crate::app`] and the CLI read it.
//! Secrets never live here: they come from the environment only
//! ([`crate::secret::Secrets`]).

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::answer::AnswerConfig;
use crate::answer::llm::LlmConfig;
use crate::discord::DiscordConfig;
use crate::embed::EmbedConfig;
use crate::ops::OpsConfig;
use crate::retrieve::SearchConfig;
use crate::secret::SECRET_VARS;
use crate::sources::HttpConfig;
use crate::store::StoreConfig;
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

/// `PAPERBOT_*` variables that steer loading rather than set keys.
const CONTROL_VARS: [&str; 2] = ["config", "log"];

impl Config {
    /// Loads defaults ← file ← environment. `file` None means `paperbot.toml`
    /// if present (or `PAPERBOT_CONFIG`).
    #[allow(clippy::result_large_err)] // figment's error carries the key path and source
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

#[cfg(test)]
#[allow(clippy::result_large_err)]
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
}
