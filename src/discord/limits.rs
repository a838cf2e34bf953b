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
        if let Some(g) = guild {
            if self.guilds.check_key(&g).is_err() {
                return Err("This server has asked a lot in the last minute; please try again shortly.".into());
            }
        }
        // Keep the maps small: forget keys whose allowance is full again.
        if self.users.len() > 10_000 {
            self.users.retain_recent();
        }
        Ok(())
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
