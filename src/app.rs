//! The wiring: builds the store, embedders, [`Library`], [`Answerer`], the
//! Discord [`Bot`] and the ops endpoint from one [`Config`].
//!
//! Architecture invariant: this module, [`crate::config`] and the binary's
//! `cli/` are the only code that knows the whole configuration. Everything
//! below takes its own section (`StoreConfig`, `SearchConfig`, …) or objects
//! built here, so it can be understood and tested on its own
//! (`tests/it/layering.rs` keeps it so).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio_util::sync::CancellationToken;

use crate::answer::Answerer;
use crate::answer::llm::{LlmClient, LlmError};
use crate::answer::prompts::{PromptError, Prompts};
use crate::config::Config;
use crate::discord::{Bot, ServeError};
use crate::library::{Library, LibraryError};
use crate::ops::{Check, Probe};
use crate::secret::Secrets;
use crate::sources::{Fetcher, SourceError};
use crate::store::{self, AnyStore, PaperStore, StoreResult};

/// Why an [`Answerer`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Library(#[from] LibraryError),
    #[error(transparent)]
    Prompt(#[from] PromptError),
    #[error(transparent)]
    Llm(#[from] LlmError),
}

/// The configuration and secrets of one process, and what they build.
pub struct App {
    pub config: Config,
    pub secrets: Secrets,
    /// One per process: it holds arXiv's request gate.
    fetcher: std::sync::OnceLock<Arc<Fetcher>>,
}

impl App {
    pub fn new(config: Config, secrets: Secrets) -> App {
        App {
            config,
            secrets,
            fetcher: std::sync::OnceLock::new(),
        }
    }

    /// The configured store (server when `store.qdrant_url` is set; else the
    /// embedded one, shared with a paperbot process that already holds it).
    pub async fn store(&self) -> StoreResult<AnyStore> {
        store::open(
            &self.config.store,
            &self.config.data_dir,
            self.secrets.qdrant_api_key.as_ref(),
        )
        .await
    }

    /// The configured embedders over `store`, checked against the library.
    pub async fn library_over<S: PaperStore>(&self, store: S) -> Result<Library<S>, LibraryError> {
        Library::open(store, &self.config.embed, self.secrets.embed_api_key.as_ref()).await
    }

    pub async fn library(&self) -> Result<Library, LibraryError> {
        self.library_over(self.store().await?).await
    }

    /// The prompt templates (built in, or overridden by `answer.prompts_dir`).
    pub fn prompts(&self) -> Result<Prompts, PromptError> {
        Prompts::load(self.config.answer.prompts_dir.as_deref())
    }

    /// The LLM client; `None` in offline (extractive) mode.
    pub fn llm(&self) -> Result<Option<LlmClient>, LlmError> {
        LlmClient::from_config(&self.config.llm, self.secrets.llm_api_key.as_ref())
    }

    /// An answerer over an already opened library.
    pub fn answerer_over<S: PaperStore>(&self, lib: Arc<Library<S>>) -> Result<Answerer<S>, SetupError> {
        Ok(Answerer::new(
            lib,
            self.prompts()?,
            self.llm()?,
            self.config.answer.clone(),
            self.config.search.clone(),
        ))
    }

    /// Library, prompts and LLM: template errors and a bad LLM configuration
    /// fail here, at startup.
    pub async fn answerer(&self) -> Result<Answerer, SetupError> {
        let (prompts, llm) = (self.prompts()?, self.llm()?);
        let lib = Arc::new(self.library().await?);
        Ok(Answerer::new(
            lib,
            prompts,
            llm,
            self.config.answer.clone(),
            self.config.search.clone(),
        ))
    }

    /// The process's fetcher (built once; every caller shares its arXiv gate).
    pub fn fetcher(&self) -> Result<Arc<Fetcher>, SourceError> {
        if let Some(f) = self.fetcher.get() {
            return Ok(f.clone());
        }
        let built = Arc::new(Fetcher::new(self.config.http.clone())?);
        Ok(self.fetcher.get_or_init(|| built).clone())
    }

    /// Problems beyond what parsing catches, each naming its key
    /// (`paperbot config --check`; `serve` refuses to start on any).
    pub fn problems(&self) -> Vec<String> {
        let (config, mut out) = (&self.config, Vec::new());
        if let Err(e) = self.llm() {
            out.push(e.to_string());
        }
        if let Err(e) = self.prompts() {
            out.push(format!("answer.prompts_dir: {e}"));
        }
        if let Some(proxy) = &config.discord.api_proxy
            && !(proxy.starts_with("http://") || proxy.starts_with("https://"))
        {
            out.push(format!(
                "discord.api_proxy `{proxy}` must start with http:// or https://"
            ));
        }
        if let Some(url) = &config.store.qdrant_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            out.push(format!(
                "store.qdrant_url `{url}` must start with http:// or https:// (gRPC port, e.g. 6334)"
            ));
        }
        if !(0.0..=1.0).contains(&config.search.min_relevance) {
            out.push("search.min_relevance must be between 0 and 1".into());
        }
        let r = &config.search.relevance;
        if [r.answer_at, r.check_at, r.include_at]
            .iter()
            .any(|p| !(0.0..=1.0).contains(p))
        {
            out.push("search.relevance.answer_at, check_at and include_at are probabilities: between 0 and 1".into());
        }
        if config.search.k == 0 || config.search.prefetch == 0 {
            out.push("search.k and search.prefetch must be at least 1".into());
        }
        let d = &config.discord;
        if d.shard_total == 0 || d.shard_first > d.shard_last || d.shard_last >= d.shard_total {
            out.push(format!(
                "discord.shard_first..=shard_last ({}..={}) must lie within 0..shard_total ({})",
                d.shard_first, d.shard_last, d.shard_total
            ));
        }
        if d.limits.user_per_minute == 0 || d.limits.guild_per_minute == 0 {
            out.push("discord.limits.* must be at least 1 per minute".into());
        }
        if config.sync.interval_minutes == 0 {
            out.push("sync.interval_minutes must be at least 1".into());
        }
        if let Some(addr) = &config.ops.listen
            && addr.parse::<std::net::SocketAddr>().is_err()
        {
            out.push(format!("ops.listen `{addr}` is not an address like 127.0.0.1:9184"));
        }
        out
    }

    /// `paperbot serve`: the bot with the configured library and LLM, the
    /// background sync and the ops endpoint, until SIGTERM or Ctrl-C.
    pub async fn serve(&self) -> anyhow::Result<()> {
        let token = self.secrets.discord_token.as_ref().ok_or(ServeError::NoToken)?;
        let answerer = Arc::new(self.answerer().await?);
        let feedback = self.config.data_dir.join("feedback.jsonl");
        let mut bot = Bot::new(answerer, self.config.discord.clone(), feedback);
        bot.fetcher = Some(self.fetcher()?);
        let bot = Arc::new(bot);
        let shutdown = CancellationToken::new();
        if self.config.sync.enabled {
            let fetcher = self.fetcher()?;
            let (bot, sync, stop) = (bot.clone(), self.config.sync.clone(), shutdown.clone());
            tokio::spawn(async move {
                crate::sync::run_loop(bot.answerer.library(), &fetcher, &sync, stop).await;
            });
        }
        // One process of a deployment that splits the shards does it.
        if self.config.discord.shard_first == 0 {
            let (bot, stop) = (bot.clone(), shutdown.clone());
            tokio::spawn(async move {
                if let Err(e) = crate::reindex::upgrade(bot.answerer.library(), &stop).await {
                    tracing::warn!(error = %e, "re-deriving keyword vectors failed; `paperbot reindex` retries");
                }
            });
        }
        if let Some(addr) = &self.config.ops.listen {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("ops.listen `{addr}`: {e}"))?;
            // The bound address: `:0` in the configuration picks a free port.
            let addr = listener.local_addr()?;
            tracing::info!(%addr, "serving /healthz and /metrics");
            crate::ops::spawn(listener, health_probe(bot.clone()));
        }
        let http = crate::discord::http(token, &self.config.discord);
        let signal = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            signal.cancel();
        });
        crate::discord::run(bot, http, shutdown).await?;
        Ok(())
    }
}

/// `/healthz` for the bot: the gateway is connected and the store answers.
pub fn health_probe(bot: Arc<Bot>) -> Probe {
    Arc::new(move || {
        let bot = bot.clone();
        Box::pin(async move {
            let gateway = bot.connected.load(Ordering::Relaxed);
            let store = bot.answerer.library().store.count().await;
            vec![
                Check {
                    name: "gateway",
                    ok: gateway,
                    detail: if gateway { "connected" } else { "disconnected" }.into(),
                },
                Check {
                    name: "store",
                    ok: store.is_ok(),
                    detail: match &store {
                        Ok(n) => format!("ok ({n} papers)"),
                        Err(e) => format!("error: {e}"),
                    },
                },
            ]
        })
    })
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = tokio::signal::ctrl_c() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
