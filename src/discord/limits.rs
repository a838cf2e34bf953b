//! Per-user and per-guild question limits (governor's keyed GCRA), and the
//! question length check — each with a short explanation for the user.

use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Questions per user per minute (burst: the same number).
    pub user_per_minute: u32,
    /// Questions per guild per minute, all users together.
    pub guild_per_minute: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            user_per_minute: 5,
            guild_per_minute: 60,
        }
    }
}

pub struct Limits {
    users: DefaultKeyedRateLimiter<u64>,
    guilds: DefaultKeyedRateLimiter<u64>,
}

impl Limits {
    pub fn new(config: &LimitsConfig) -> Limits {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN));
        Limits {
            users: RateLimiter::keyed(quota(config.user_per_minute)),
            guilds: RateLimiter::keyed(quota(config.guild_per_minute)),
        }
    }

    /// Takes one question from the user's and the guild's allowance, or
    /// says why not.
    pub fn check(&self, user: u64, guild: Option<u64>) -> Result<(), String> {
        if self.users.check_key(&user).is_err() {
            return Err("You are asking faster than I can answer; please wait a minute and try again.".into());
        }
        if let Some(g) = guild
            && self.guilds.check_key(&g).is_err()
        {
            return Err("This server has asked a lot in the last minute; please try again shortly.".into());
        }
        // Keep the maps small: forget keys whose allowance is full again.
        if self.users.len() > 10_000 {
            self.users.retain_recent();
        }
        Ok(())
    }
}

/// A guild's LLM tokens for today (UTC), counted in the store so every
/// process sees the same total. Charges are increments: exact on the
/// embedded store for every process sharing it, and within one process on a
/// Qdrant server (see [`StateStore::increment`]). Answers already running
/// when the limit is reached still finish, so a guild may go over by the
/// answers in flight.
pub mod budget {
    use crate::store::state::StateStore;

    const KIND: &str = "llm_budget";

    fn key(guild: u64) -> String {
        format!("{guild}/{}", chrono::Utc::now().format("%Y-%m-%d"))
    }

    pub async fn used<S: StateStore>(store: &S, guild: u64) -> u64 {
        match store.get_doc(KIND, &key(guild)).await {
            Ok(Some(doc)) => doc["tokens"].as_u64().unwrap_or(0),
            Ok(None) => 0,
            Err(e) => {
                tracing::warn!(guild, error = %e, "cannot read the LLM budget; not enforcing it this time");
                0
            }
        }
    }

    /// Err with a short explanation when today's budget is spent.
    pub async fn check<S: StateStore>(store: &S, guild: Option<u64>, limit: Option<u64>) -> Result<(), String> {
        let (Some(g), Some(limit)) = (guild, limit) else {
            return Ok(());
        };
        if used(store, g).await >= limit {
            return Err("This server has used today's answer budget; it resets at 00:00 UTC. \
                        `/search` and `/paper` still work."
                .into());
        }
        Ok(())
    }

    pub async fn charge<S: StateStore>(store: &S, guild: Option<u64>, tokens: usize) {
        let Some(g) = guild.filter(|_| tokens > 0) else { return };
        if let Err(e) = store.increment(KIND, &key(g), "tokens", tokens as u64).await {
            tracing::warn!(guild = g, error = %e, "cannot record LLM tokens");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_guilds_are_limited_separately() {
        let l = Limits::new(&LimitsConfig {
            user_per_minute: 2,
            guild_per_minute: 3,
        });
        assert!(l.check(1, Some(9)).is_ok());
        assert!(l.check(1, Some(9)).is_ok());
        assert!(l.check(1, Some(9)).unwrap_err().contains("wait a minute"));
        assert!(l.check(2, Some(9)).is_ok());
        assert!(l.check(3, Some(9)).unwrap_err().contains("server"));
        assert!(l.check(3, None).is_ok(), "DMs have no guild limit");
    }
}
