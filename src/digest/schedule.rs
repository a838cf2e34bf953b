//! When a subscription's digest is due, and how it gets posted exactly once.
//!
//! Due times are computed in the subscription's time zone: a local time
//! that does not exist (the spring-forward gap) moves to the first instant
//! after the gap; an ambiguous one (fall-back) takes the earlier instant.
//!
//! Exactly once, through crashes and concurrent processes: before posting, a
//! `Pending` record with a digest id (derived from subscription and date) is
//! stored; the message carries that id; after posting, the date is recorded
//! as posted. A crash between "posted" and "recorded" leaves `Pending`: on
//! recovery the channel's messages since the post began are searched for the
//! id (however many came after it) and the digest is recorded, not posted
//! again. Two processes that both own a subscription (overlapping shard
//! ranges in a rolling deploy) each claim it before posting ([`DigestSink::claim`],
//! a lease in the store, re-read after writing), and the post itself carries
//! the digest id as Discord's `nonce` with `enforce_nonce`, so Discord
//! returns the first message to a second post of the same digest.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Days, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// When, in whose clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub time: NaiveTime,
    pub tz: Tz,
}

/// The instant the digest for local `date` is due.
pub fn due_at(s: &Schedule, date: NaiveDate) -> DateTime<Utc> {
    let local = date.and_time(s.time);
    match s.tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(early, _) => early.with_timezone(&Utc),
        LocalResult::None => {
            // In the gap: walk forward minute by minute to the first valid local time.
            (1..=180)
                .find_map(|m| {
                    s.tz.from_local_datetime(&(local + chrono::Duration::minutes(m)))
                        .earliest()
                })
                .map_or_else(|| local.and_utc(), |t| t.with_timezone(&Utc))
        }
    }
}

/// The local date whose digest should be posted at `now`, if any: the most
/// recent due date not yet posted, if it fell due at most `grace` ago. Older
/// missed days are not posted one by one — the next digest covers their
/// papers, because candidates are "entered since the previous digest".
pub fn due_now(s: &Schedule, now: DateTime<Utc>, last_posted: Option<NaiveDate>, grace: Duration) -> Option<NaiveDate> {
    let today = now.with_timezone(&s.tz).date_naive();
    let date = if due_at(s, today) <= now {
        today
    } else {
        today.checked_sub_days(Days::new(1))?
    };
    if last_posted.is_some_and(|p| p >= date) {
        return None;
    }
    let late = (now - due_at(s, date)).to_std().unwrap_or(Duration::ZERO);
    (late <= grace).then_some(date)
}

/// A digest's identity: the same subscription and date give the same id.
pub fn digest_id(subscription: &str, date: NaiveDate) -> String {
    let name = format!("{subscription}/{date}");
    let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, name.as_bytes());
    format!("dg-{}", &id.simple().to_string()[..12])
}

/// What is remembered per subscription between posts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DigestState {
    /// The last local date a digest was posted for.
    pub last_posted: Option<NaiveDate>,
    /// Papers that entered before this went into earlier digests.
    pub cutoff: Option<DateTime<Utc>>,
    /// A post in progress (written before posting).
    pub pending: Option<Pending>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub date: NaiveDate,
    pub digest_id: String,
    /// The cutoff this digest uses; becomes `DigestState::cutoff` once posted.
    pub cutoff: DateTime<Utc>,
    /// When posting began: recovery searches the channel back to here.
    #[serde(default)]
    pub started: Option<DateTime<Utc>>,
}

/// The outside world the protocol needs: durable state and the channel.
pub trait DigestSink {
    type Error: std::fmt::Display;
    fn load(&self, sub: &str) -> impl Future<Output = Result<DigestState, Self::Error>> + Send;
    fn save(&self, sub: &str, state: &DigestState) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Whether a message carrying `digest_id`, posted at or after `since`
    /// (when known), is in the channel.
    fn already_posted(
        &self,
        sub: &str,
        digest_id: &str,
        since: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;
    /// Takes the right to post `digest_id` for a few minutes: false while
    /// another process holds it.
    fn claim(
        &self,
        sub: &str,
        digest_id: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;
    /// Builds and posts the digest of papers entered since `since`.
    fn post(
        &self,
        sub: &str,
        digest_id: &str,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// What a tick did for one subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tick {
    NotDue,
    Posted(NaiveDate),
    /// A crash had left it pending; it was found in the channel and recorded.
    Recovered(NaiveDate),
    /// Another process is posting this digest now.
    Claimed(NaiveDate),
}

/// One scheduler tick for one subscription. `first_since` is the window of
/// a first digest (e.g. 24 h before now).
pub async fn tick<K: DigestSink>(
    sink: &K,
    sub: &str,
    schedule: &Schedule,
    now: DateTime<Utc>,
    grace: Duration,
    first_since: DateTime<Utc>,
) -> Result<Tick, K::Error> {
    let mut state = sink.load(sub).await?;
    // Recovery first: a pending post either happened or it did not.
    if let Some(p) = state.pending.clone()
        && sink.already_posted(sub, &p.digest_id, p.started).await?
    {
        state.last_posted = Some(p.date);
        state.cutoff = Some(p.cutoff);
        state.pending = None;
        sink.save(sub, &state).await?;
        return Ok(Tick::Recovered(p.date));
    }
    let Some(date) = due_now(schedule, now, state.last_posted, grace) else {
        return Ok(Tick::NotDue);
    };
    let since = state.cutoff.unwrap_or(first_since);
    let pending = match state.pending.clone().filter(|p| p.date == date) {
        Some(p) => p, // retry the same digest under the same id
        None => Pending {
            date,
            digest_id: digest_id(sub, date),
            cutoff: now,
            started: Some(now - chrono::Duration::minutes(1)),
        },
    };
    if !sink.claim(sub, &pending.digest_id, now).await? {
        return Ok(Tick::Claimed(date));
    }
    state.pending = Some(pending.clone());
    sink.save(sub, &state).await?;
    sink.post(sub, &pending.digest_id, since).await?;
    state.last_posted = Some(date);
    state.cutoff = Some(pending.cutoff);
    state.pending = None;
    sink.save(sub, &state).await?;
    Ok(Tick::Posted(date))
}

/// Discord's sharding formula: which shard owns a guild's events (and digests).
pub fn shard_of(guild_id: u64, shards: u32) -> u32 {
    ((guild_id >> 22) % u64::from(shards.max(1))) as u32
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn sched(time: &str, tz: Tz) -> Schedule {
        Schedule {
            time: NaiveTime::parse_from_str(time, "%H:%M").unwrap(),
            tz,
        }
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn due_times_follow_the_zone_across_dst() {
        let berlin = sched("09:00", chrono_tz::Europe::Berlin);
        assert_eq!(due_at(&berlin, d("2026-01-15")), at("2026-01-15T08:00:00Z"), "CET");
        assert_eq!(due_at(&berlin, d("2026-07-15")), at("2026-07-15T07:00:00Z"), "CEST");
        // 02:30 does not exist on the spring-forward night: first instant after the gap.
        let gap = sched("02:30", chrono_tz::Europe::Berlin);
        assert_eq!(due_at(&gap, d("2026-03-29")), at("2026-03-29T01:00:00Z"));
        // 02:30 happens twice on the fall-back night: the earlier one.
        assert_eq!(due_at(&gap, d("2026-10-25")), at("2026-10-25T00:30:00Z"));
        let ny = sched("08:00", chrono_tz::America::New_York);
        assert_eq!(
            due_at(&ny, d("2026-03-08")),
            at("2026-03-08T12:00:00Z"),
            "EDT from that day"
        );
        assert_eq!(
            due_at(&ny, d("2026-03-07")),
            at("2026-03-07T13:00:00Z"),
            "EST the day before"
        );
        let tokyo = sched("00:15", chrono_tz::Asia::Tokyo);
        assert_eq!(
            due_at(&tokyo, d("2026-06-01")),
            at("2026-05-31T15:15:00Z"),
            "the local date leads UTC"
        );
    }

    #[test]
    fn due_now_posts_once_per_day_and_catches_up_once() {
        let s = sched("09:00", chrono_tz::Europe::Berlin);
        let grace = Duration::from_secs(6 * 3600);
        assert_eq!(
            due_now(&s, at("2026-07-15T06:59:00Z"), Some(d("2026-07-14")), grace),
            None
        );
        assert_eq!(
            due_now(&s, at("2026-07-15T07:00:00Z"), Some(d("2026-07-14")), grace),
            Some(d("2026-07-15"))
        );
        assert_eq!(
            due_now(&s, at("2026-07-15T07:30:00Z"), Some(d("2026-07-15")), grace),
            None
        );
        // Down for three days, back an hour after the time: one post, for today.
        assert_eq!(
            due_now(&s, at("2026-07-18T08:00:00Z"), Some(d("2026-07-15")), grace),
            Some(d("2026-07-18"))
        );
        // Back before today's time, yesterday's beyond the grace: nothing until 09:00.
        assert_eq!(
            due_now(&s, at("2026-07-18T06:00:00Z"), Some(d("2026-07-15")), grace),
            None
        );
        // Within the grace the missed yesterday is posted once.
        assert_eq!(
            due_now(
                &s,
                at("2026-07-18T06:00:00Z"),
                Some(d("2026-07-15")),
                Duration::from_secs(30 * 3600)
            ),
            Some(d("2026-07-17"))
        );
    }

    /// A sink that can crash after posting, before recording.
    #[derive(Default)]
    struct Fake {
        states: Mutex<HashMap<String, DigestState>>,
        posted: Mutex<Vec<(String, DateTime<Utc>)>>,
        crash_after_post: Mutex<bool>,
    }

    impl DigestSink for Fake {
        type Error = String;
        async fn load(&self, sub: &str) -> Result<DigestState, String> {
            Ok(self.states.lock().unwrap().get(sub).cloned().unwrap_or_default())
        }
        async fn save(&self, sub: &str, state: &DigestState) -> Result<(), String> {
            let mut crash = self.crash_after_post.lock().unwrap();
            if *crash && state.pending.is_none() {
                *crash = false;
                return Err("crashed before recording".into());
            }
            self.states.lock().unwrap().insert(sub.into(), state.clone());
            Ok(())
        }
        async fn already_posted(&self, _sub: &str, id: &str, _since: Option<DateTime<Utc>>) -> Result<bool, String> {
            Ok(self.posted.lock().unwrap().iter().any(|(p, _)| p == id))
        }
        async fn claim(&self, _sub: &str, _id: &str, _now: DateTime<Utc>) -> Result<bool, String> {
            Ok(true)
        }
        async fn post(&self, _sub: &str, id: &str, since: DateTime<Utc>) -> Result<(), String> {
            self.posted.lock().unwrap().push((id.into(), since));
            Ok(())
        }
    }

    #[tokio::test]
    async fn restarts_and_crashes_never_double_post() {
        let s = sched("09:00", chrono_tz::Europe::Berlin);
        let grace = Duration::from_secs(6 * 3600);
        let fake = Fake::default();
        let first = at("2026-07-14T07:00:00Z");
        let mut now = at("2026-07-15T06:00:00Z");
        let mut results = vec![];
        // Every 10 minutes for two days, with a "restart" (nothing kept in memory) each tick.
        while now < at("2026-07-17T06:00:00Z") {
            let r = tick(&fake, "sub", &s, now, grace, first).await.unwrap();
            if r != Tick::NotDue {
                results.push((now, r));
            }
            now += chrono::Duration::minutes(10);
        }
        assert_eq!(
            results,
            vec![
                (at("2026-07-15T07:00:00Z"), Tick::Posted(d("2026-07-15"))),
                (at("2026-07-16T07:00:00Z"), Tick::Posted(d("2026-07-16"))),
            ]
        );
        // The second digest covers what entered after the first one's cutoff.
        let posted = fake.posted.lock().unwrap().clone();
        assert_eq!(posted[0].1, first);
        assert_eq!(posted[1].1, at("2026-07-15T07:00:00Z"));

        // Crash between posting and recording: the next tick recovers, no second post.
        *fake.crash_after_post.lock().unwrap() = true;
        let t = at("2026-07-17T07:05:00Z");
        assert!(tick(&fake, "sub", &s, t, grace, first).await.is_err());
        assert_eq!(fake.posted.lock().unwrap().len(), 3);
        let r = tick(&fake, "sub", &s, t + chrono::Duration::minutes(1), grace, first)
            .await
            .unwrap();
        assert_eq!(r, Tick::Recovered(d("2026-07-17")));
        let r = tick(&fake, "sub", &s, t + chrono::Duration::minutes(2), grace, first)
            .await
            .unwrap();
        assert_eq!(r, Tick::NotDue);
        assert_eq!(fake.posted.lock().unwrap().len(), 3, "posted exactly once");

        // Down for three days: one catch-up post on return.
        let back = at("2026-07-20T08:00:00Z");
        let r = tick(&fake, "sub", &s, back, grace, first).await.unwrap();
        assert_eq!(r, Tick::Posted(d("2026-07-20")));
        for m in 1..20 {
            let r = tick(&fake, "sub", &s, back + chrono::Duration::minutes(m), grace, first)
                .await
                .unwrap();
            assert_eq!(r, Tick::NotDue);
        }
        assert_eq!(fake.posted.lock().unwrap().len(), 4);
    }

    #[test]
    fn ids_are_stable_and_shards_follow_discord() {
        assert_eq!(digest_id("a", d("2026-01-01")), digest_id("a", d("2026-01-01")));
        assert_ne!(digest_id("a", d("2026-01-01")), digest_id("a", d("2026-01-02")));
        // Discord: shard_id = (guild_id >> 22) % num_shards.
        assert_eq!(
            shard_of(41771983423143937, 2),
            ((41771983423143937u64 >> 22) % 2) as u32
        );
        assert_eq!(shard_of(1, 0), 0);
    }
}
