//! What the bot remembers between events: conversations in threads, recent
//! answers (for the "Show abstracts" and feedback buttons), how fresh the
//! index is, and the feedback log.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::answer::{Answer, Turn};
use crate::paper::Paper;

/// Bounded map: the oldest entry goes when full.
struct Bounded<K, V> {
    map: HashMap<K, V>,
    order: VecDeque<K>,
    cap: usize,
}

impl<K: std::hash::Hash + Eq + Clone, V> Bounded<K, V> {
    fn new(cap: usize) -> Self {
        Bounded {
            map: HashMap::new(),
            order: VecDeque::new(),
            cap: cap.max(1),
        }
    }

    fn get_mut_or_insert(&mut self, k: K, v: impl FnOnce() -> V) -> &mut V {
        if !self.map.contains_key(&k) {
            if self.map.len() >= self.cap
                && let Some(old) = self.order.pop_front()
            {
                self.map.remove(&old);
            }
            self.order.push_back(k.clone());
            self.map.insert(k.clone(), v());
        }
        self.map.get_mut(&k).expect("just inserted")
    }
}

/// Where a conversation with the bot lives: a thread the bot started (every
/// message there is addressed to it), a DM, or a chain of replies to the
/// bot's answers in a channel where it could not start a thread (only
/// replies to its own answer messages continue it there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConversationKey {
    Channel(u64),
    /// Keyed by the first answer message of the chain.
    Replies(u64),
}

/// Conversations: the turns so far, newest last, and which answer messages
/// belong to which reply chain.
pub struct Conversations {
    inner: Mutex<Bounded<ConversationKey, Vec<Turn>>>,
    /// An answer message id -> the reply chain it belongs to.
    answers: Mutex<Bounded<u64, ConversationKey>>,
    max_turns: usize,
}

impl Conversations {
    pub fn new(max_threads: usize, max_turns: usize) -> Self {
        Conversations {
            inner: Mutex::new(Bounded::new(max_threads)),
            answers: Mutex::new(Bounded::new(max_threads)),
            max_turns,
        }
    }

    /// Turns so far, or None when the bot has no conversation there.
    pub fn history(&self, key: ConversationKey) -> Option<Vec<Turn>> {
        self.inner.lock().ok()?.map.get(&key).cloned()
    }

    /// The reply chain an answer message of the bot belongs to.
    pub fn chain_of(&self, answer_message: u64) -> Option<ConversationKey> {
        self.answers.lock().ok()?.map.get(&answer_message).copied()
    }

    /// Marks `answer_message` as part of the conversation `key`: a reply to
    /// it continues the conversation.
    pub fn link(&self, answer_message: u64, key: ConversationKey) {
        if let Ok(mut g) = self.answers.lock() {
            *g.get_mut_or_insert(answer_message, || key) = key;
        }
    }

    pub fn start(&self, key: ConversationKey) {
        if let Ok(mut g) = self.inner.lock() {
            g.get_mut_or_insert(key, Vec::new);
        }
    }

    pub fn record(&self, key: ConversationKey, question: &str, answer: &Answer) {
        let turn = Turn {
            question: question.to_string(),
            answer: answer.text.clone(),
            cited: answer.citations.iter().map(|c| c.paper.id.clone()).collect(),
        };
        if let Ok(mut g) = self.inner.lock() {
            let turns = g.get_mut_or_insert(key, Vec::new);
            turns.push(turn);
            let excess = turns.len().saturating_sub(self.max_turns);
            turns.drain(..excess);
        }
    }
}

/// A posted answer, for its buttons.
#[derive(Clone)]
pub struct Posted {
    pub question: String,
    pub papers: Vec<Paper>,
}

pub struct Answers {
    inner: Mutex<Bounded<u64, Posted>>,
}

impl Answers {
    pub fn new(cap: usize) -> Self {
        Answers {
            inner: Mutex::new(Bounded::new(cap)),
        }
    }

    pub fn remember(&self, id: u64, question: &str, answer: &Answer) {
        let papers = if answer.citations.is_empty() {
            answer.related.clone()
        } else {
            answer.citations.iter().map(|c| c.paper.clone()).collect()
        };
        if let Ok(mut g) = self.inner.lock() {
            *g.get_mut_or_insert(id, || Posted {
                question: String::new(),
                papers: vec![],
            }) = Posted {
                question: question.to_string(),
                papers,
            };
        }
    }

    pub fn get(&self, id: u64) -> Option<Posted> {
        self.inner.lock().ok()?.map.get(&id).cloned()
    }
}

/// How big and how fresh the index is (for footers and `/about`).
#[derive(Debug, Clone, Default)]
pub struct IndexInfo {
    pub papers: u64,
    pub newest: Option<DateTime<Utc>>,
}

impl IndexInfo {
    pub fn footer(&self) -> String {
        match self.newest {
            Some(d) => format!("{} papers indexed · newest {}", self.papers, d.format("%Y-%m-%d")),
            None => format!("{} papers indexed", self.papers),
        }
    }
}

/// "Helpful" / "Not helpful" votes, one JSON line each, for later evaluation.
pub struct FeedbackLog {
    path: PathBuf,
    lock: Mutex<()>,
}

#[derive(Serialize)]
struct Vote<'a> {
    at: DateTime<Utc>,
    answer_id: u64,
    user_id: u64,
    helpful: bool,
    question: &'a str,
    papers: Vec<&'a str>,
}

impl FeedbackLog {
    pub fn new(path: PathBuf) -> Self {
        FeedbackLog {
            path,
            lock: Mutex::new(()),
        }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    pub fn record(&self, answer_id: u64, user_id: u64, helpful: bool, posted: &Posted) -> std::io::Result<()> {
        let vote = Vote {
            at: Utc::now(),
            answer_id,
            user_id,
            helpful,
            question: &posted.question,
            papers: posted.papers.iter().map(|p| p.id.as_str()).collect(),
        };
        let line = serde_json::to_string(&vote).map_err(std::io::Error::other)? + "\n";
        let _guard = self.lock.lock().map_err(|_| std::io::Error::other("poisoned"))?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&self.path)?;
        f.write_all(line.as_bytes())
    }
}
