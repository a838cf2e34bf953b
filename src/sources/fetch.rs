//! HTTP access to paper APIs: retries with backoff for 429/5xx (honouring
//! `Retry-After`), a total attempt bound, and arXiv's terms of use — at most
//! one request every 3 seconds over a single connection.

use std::time::Duration;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio::time::Instant;
use tracing::Instrument;

use super::{ParseOutcome, RecordProblem, SourceError, arxiv, hf};

/// Where the APIs live and how politely to call them. Base URLs are
/// configurable so tests (and mirrors) can point elsewhere.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    pub hf_base_url: String,
    pub arxiv_base_url: String,
    /// arXiv's OAI-PMH endpoint, for bulk backfill.
    pub arxiv_oai_url: String,
    /// Seconds between two arXiv requests (arXiv asks for at least 3).
    pub arxiv_interval_secs: f64,
    /// Entries per arXiv request and in total per query.
    pub arxiv_page_size: u32,
    pub arxiv_max_results: u32,
    /// Per-request timeout.
    pub timeout_secs: u64,
    /// Attempts per request, the first included, for 429/5xx and network errors.
    pub max_attempts: u32,
    /// First backoff delay; doubles per attempt, with jitter.
    pub retry_base_ms: u64,
    /// Largest `Retry-After` honoured; a longer one fails the source (and is said).
    pub max_retry_after_secs: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            hf_base_url: "https://huggingface.co".into(),
            arxiv_base_url: "https://export.arxiv.org".into(),
            arxiv_oai_url: "https://oaipmh.arxiv.org/oai".into(),
            arxiv_interval_secs: 3.0,
            arxiv_page_size: 100,
            arxiv_max_results: 200,
            timeout_secs: 30,
            max_attempts: 4,
            retry_base_ms: 1_000,
            max_retry_after_secs: 120,
        }
    }
}

/// Which OAI-PMH `ListRecords` page to ask for.
#[derive(Debug, Clone)]
pub enum OaiQuery<'a> {
    First {
        set: Option<&'a str>,
        from: NaiveDate,
        until: Option<NaiveDate>,
    },
    Next(&'a str),
}

/// arXiv's API takes this many ids in one `id_list`.
pub const ARXIV_IDS_PER_REQUEST: usize = 100;

/// Fetches and parses API sources. Cheap to share by reference; share one
/// per process, since it holds arXiv's one-request-per-3-s gate.
pub struct Fetcher {
    client: reqwest::Client,
    arxiv_client: reqwest::Client,
    config: HttpConfig,
    /// Held across an arXiv request: serialises them (one connection) and
    /// remembers when the last one started.
    arxiv_gate: Mutex<Option<Instant>>,
}

impl Fetcher {
    pub fn new(config: HttpConfig) -> Result<Fetcher, SourceError> {
        let build = |per_host: usize| {
            crate::http_client_builder()
                .timeout(Duration::from_secs(config.timeout_secs))
                .pool_max_idle_per_host(per_host)
                .build()
                .map_err(|e| SourceError::Network {
                    url: "(client)".into(),
                    message: e.to_string(),
                })
        };
        Ok(Fetcher {
            client: build(4)?,
            arxiv_client: build(1)?,
            config,
            arxiv_gate: Mutex::new(None),
        })
    }

    pub async fn hf_daily(&self, date: NaiveDate) -> Result<ParseOutcome, SourceError> {
        let url = format!(
            "{}/api/daily_papers?date={date}",
            self.config.hf_base_url.trim_end_matches('/')
        );
        let bytes = self
            .get(&self.client, &url, Duration::ZERO)
            .instrument(tracing::info_span!("hf_daily", %date))
            .await?;
        Ok(tokio::task::spawn_blocking(move || hf::parse(&bytes))
            .await
            .unwrap_or_default())
    }

    /// Pages through an arXiv query, newest submissions first.
    pub async fn arxiv_query(&self, query: &str) -> Result<ParseOutcome, SourceError> {
        let mut all = ParseOutcome::default();
        let page = self.config.arxiv_page_size.max(1);
        let mut start = 0;
        while start < self.config.arxiv_max_results {
            let n = page.min(self.config.arxiv_max_results - start);
            let params = [
                ("search_query", query),
                ("start", &start.to_string()),
                ("max_results", &n.to_string()),
                ("sortBy", "submittedDate"),
                ("sortOrder", "descending"),
            ];
            let outcome = self
                .arxiv_api(&params)
                .instrument(tracing::info_span!("arxiv_query", query, start))
                .await?;
            let got = outcome.papers.len() + outcome.problems.len();
            all.extend(outcome);
            if got < n as usize {
                break;
            }
            start += n;
        }
        Ok(all)
    }

    /// Papers by arXiv id (any spelling [`PaperId::arxiv`] reads), through
    /// the API's `id_list`: one request per 100 ids. Ids arXiv does not know
    /// come back as problems naming them.
    pub async fn arxiv_ids(&self, ids: &[String]) -> Result<ParseOutcome, SourceError> {
        let mut all = ParseOutcome::default();
        for chunk in ids.chunks(ARXIV_IDS_PER_REQUEST) {
            let list = chunk.join(",");
            let mut outcome = self
                .arxiv_api(&[("id_list", list.as_str()), ("max_results", &chunk.len().to_string())])
                .instrument(tracing::info_span!("arxiv_ids", n = chunk.len()))
                .await?;
            for id in chunk {
                if !outcome.papers.iter().any(|p| p.id.as_str() == id) {
                    outcome.problems.push(RecordProblem::new(
                        format!("arXiv {id}"),
                        "arXiv has no paper with this id",
                    ));
                }
            }
            // arXiv answers an id it cannot find with an entry titled "Error".
            outcome.papers.retain(|p| chunk.iter().any(|id| p.id.as_str() == id));
            all.extend(outcome);
        }
        Ok(all)
    }

    /// One OAI-PMH `ListRecords` page: the first (by `set`, `from`,
    /// `until`) or the next (by resumption token, which excludes the rest).
    /// arXiv's flow control (503 with `Retry-After`) is honoured by `get`.
    pub async fn oai_page(&self, query: &OaiQuery<'_>) -> Result<super::oai_pmh::OaiPage, SourceError> {
        let params: Vec<(&str, String)> = match query {
            OaiQuery::Next(token) => vec![("verb", "ListRecords".into()), ("resumptionToken", token.to_string())],
            OaiQuery::First { set, from, until } => {
                let mut p = vec![("verb", "ListRecords".into()), ("metadataPrefix", "arXiv".into())];
                if let Some(set) = set {
                    p.push(("set", set.to_string()));
                }
                p.push(("from", from.to_string()));
                if let Some(until) = until {
                    p.push(("until", until.to_string()));
                }
                p
            }
        };
        let url =
            reqwest::Url::parse_with_params(&self.config.arxiv_oai_url, &params).map_err(|e| SourceError::Network {
                url: self.config.arxiv_oai_url.clone(),
                message: e.to_string(),
            })?;
        let bytes = self
            .arxiv_get(url.as_str())
            .instrument(tracing::info_span!("arxiv_oai"))
            .await?;
        Ok(tokio::task::spawn_blocking(move || super::oai_pmh::parse(&bytes))
            .await
            .unwrap_or_default())
    }

    /// One request to the arXiv export API (`/api/query`), its Atom parsed.
    async fn arxiv_api(&self, params: &[(&str, &str)]) -> Result<ParseOutcome, SourceError> {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/api/query", self.config.arxiv_base_url.trim_end_matches('/')),
            params,
        )
        .map_err(|e| SourceError::Network {
            url: self.config.arxiv_base_url.clone(),
            message: e.to_string(),
        })?;
        let bytes = self.arxiv_get(url.as_str()).await?;
        Ok(tokio::task::spawn_blocking(move || arxiv::parse(&bytes))
            .await
            .unwrap_or_default())
    }

    /// An arXiv API request, at most one per `arxiv_interval_secs` for the
    /// whole process (this fetcher is shared), on one connection.
    async fn arxiv_get(&self, url: &str) -> Result<Vec<u8>, SourceError> {
        let mut last = self.arxiv_gate.lock().await;
        let interval = Duration::from_secs_f64(self.config.arxiv_interval_secs);
        if let Some(t) = *last {
            tokio::time::sleep_until(t + interval).await;
        }
        let result = self.get(&self.arxiv_client, url, interval).await;
        // From the last attempt's answer: a retried request (after a 503's
        // `Retry-After`) is the one the next must keep its distance from.
        *last = Some(Instant::now());
        result
    }

    /// GET with bounded retries on 429, 5xx and transport errors, each
    /// retry at least `min_gap` after the failed attempt.
    async fn get(&self, client: &reqwest::Client, url: &str, min_gap: Duration) -> Result<Vec<u8>, SourceError> {
        let attempts = self.config.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = client.get(url).send().await;
            let retry_after = match result {
                Ok(resp) if resp.status().is_success() => {
                    return resp
                        .bytes()
                        .await
                        .map(|b| b.to_vec())
                        .map_err(|e| SourceError::Network {
                            url: url.into(),
                            message: format!("reading body: {e}"),
                        });
                }
                Ok(resp) => {
                    let status = resp.status();
                    let retryable = crate::retry::is_retryable(status);
                    let retry_after = crate::retry::retry_after(resp.headers());
                    if !retryable || attempt >= attempts {
                        return Err(SourceError::Status {
                            url: url.into(),
                            status: status.as_u16(),
                            attempts: attempt,
                            hint: if retryable {
                                "; will be tried again on the next run".into()
                            } else {
                                String::new()
                            },
                        });
                    }
                    if let Some(ra) = retry_after
                        && ra > Duration::from_secs(self.config.max_retry_after_secs)
                    {
                        return Err(SourceError::Status {
                            url: url.into(),
                            status: status.as_u16(),
                            attempts: attempt,
                            hint: format!("; server asked to wait {}s, longer than allowed", ra.as_secs()),
                        });
                    }
                    tracing::warn!(%url, status = status.as_u16(), attempt, "retrying");
                    retry_after
                }
                Err(e) => {
                    if attempt >= attempts {
                        return Err(SourceError::Network {
                            url: url.into(),
                            message: format!("{e} (after {attempt} attempts)"),
                        });
                    }
                    tracing::warn!(%url, error = %e, attempt, "retrying");
                    None
                }
            };
            let delay = retry_after.unwrap_or_else(|| {
                crate::retry::backoff(
                    Duration::from_millis(self.config.retry_base_ms),
                    attempt,
                    Duration::from_secs(60),
                )
            });
            tokio::time::sleep(delay.max(min_gap)).await;
        }
    }
}
