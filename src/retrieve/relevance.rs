//! Is anything in the library relevant to a question, and which papers?
//!
//! Fusion scores are rank-based and say nothing about relevance, and one
//! absolute cosine cut drifts as the library grows: at 100k papers some
//! neighbour is always close to any question in the field. So the
//! candidates are judged on evidence that they are about *this* question:
//! cosines of the abstract and of its best sentence, how many of the
//! question's terms — weighted by how rare they are in the field — a paper
//! has, whether it lacks the question's rarest term, whether it has a name
//! the question uses, and whether the dense and BM25 retrievers agree.
//!
//! Two small logistic models over that evidence, fitted by `paperbot eval
//! --calibrate` on questions they are never reported on:
//! - the **question** model looks at the best evidence among the candidates
//!   and says whether the question is answerable from the library at all;
//! - the **paper** model says which candidates are relevant, so an answer's
//!   sources are all of those (a question about many papers gets many).

use serde::{Deserialize, Serialize};

use std::collections::HashSet;

use crate::embed::bm25::Bm25;
use crate::logistic::sigmoid;
use crate::store::SparseVec;

/// Candidates a question is judged on (and an answer picks its sources
/// from), whatever number of hits is shown.
pub const CANDIDATES: usize = 20;
/// BM25's best that join the candidates when fusion ranked them lower.
pub const BM25_CANDIDATES: usize = 10;

/// Words that frame a question about the literature rather than say what it
/// is about: "which *papers report results* on AIME?", "list *work* on …".
/// An abstract rarely says them of itself, so as question terms they count
/// as missing from the very papers asked for.
const FRAMING: &str = "paper papers work works study studies research article articles publication publications \
     report reports result results approach approaches method methods experiment experiments list";

/// The BM25 terms of a question (`query`, from [`Bm25::query`]) that say
/// what it asks about: all but the [`FRAMING`] words. The evidence is
/// judged on these; retrieval keeps every term (removing the framing there
/// measured no better on the calibration questions).
pub fn subject_terms(bm25: &Bm25, query: &SparseVec) -> HashSet<u32> {
    let framing = bm25.query(FRAMING).indices;
    query.indices.iter().copied().filter(|t| !framing.contains(t)).collect()
}

/// What is known about one candidate paper for one question.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Cosine of the question and the paper's title + abstract.
    pub cosine: f32,
    /// Best cosine of the question and one sentence of the paper (its title
    /// counts): a question about one detail matches one sentence well.
    pub sentence: f32,
    /// Share of the question's terms (stemmed, stop words out) that occur
    /// in the paper's title or abstract.
    pub coverage: f32,
    /// 1 / rank among the dense candidates (0 beyond them).
    pub dense_rank: f32,
    /// 1 / rank among the BM25 candidates (0 beyond them).
    pub sparse_rank: f32,
    /// This paper's cosine minus the best candidate's (≤ 0).
    pub lead: f32,
    /// Like `coverage`, each term weighted by how rare it is in the field
    /// ([`super::field_idf`]): does the paper have what is distinctive
    /// about the question?
    pub rare_coverage: f32,
    /// 1 when the question uses a coined name (`OmegaPRM`, `AlpacaEval`)
    /// that the paper's title or abstract has.
    pub named: f32,
    /// How rare (field IDF, scaled to 0..1) the rarest question term the
    /// paper lacks is: an off-topic neighbour shares the common words and
    /// misses the one that matters.
    pub missing_rare: f32,
    /// How much the paper lacks, in the field's terms: the sum of the
    /// scaled field IDF of every question term it does not have (terms the
    /// field never uses count nothing). Unlike the coverage shares it is not
    /// divided by the question's length, so a near miss — every facet of
    /// the question but "video", "source code" — still counts the facet
    /// it lacks in full.
    #[serde(default)]
    pub missing_mass: f32,
}

/// The best evidence among a question's candidates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct QuestionEvidence {
    /// Best sentence cosine of any candidate.
    pub sentence: f32,
    /// Best field-weighted term coverage of any candidate.
    pub rare_coverage: f32,
    /// Best abstract cosine in the library.
    pub cosine: f32,
    /// The smallest `missing_rare` of any candidate: some paper has even
    /// the question's rarest terms.
    pub missing_rare: f32,
    /// Some candidate has a name the question uses.
    pub named: f32,
    /// The dense and BM25 retrievers put the same paper first.
    pub agree: f32,
    /// Sentence cosine of the first hit.
    pub first_sentence: f32,
    /// Best, over the candidates, of sentence cosine × field-weighted
    /// coverage: one paper with both the question's meaning and its
    /// distinctive terms, not the meaning from one neighbour and the terms
    /// from another (what a hard off-corpus question next to the library's
    /// topics often gets).
    #[serde(default)]
    pub both: f32,
    /// The least any candidate lacks (`missing_mass`): a library that
    /// answers the question has a paper with nearly all its terms.
    #[serde(default)]
    pub least_missing: f32,
    /// The rarest question term (scaled field IDF) that no candidate has at
    /// all, among terms the field uses.
    #[serde(default)]
    pub absent: f32,
}

impl QuestionEvidence {
    /// From the candidates' evidence, in rank order, and the rarest term
    /// none of them has (see [`QuestionEvidence::absent`]).
    pub fn of(papers: &[Evidence], absent: f32) -> QuestionEvidence {
        let max = |f: fn(&Evidence) -> f32| papers.iter().map(f).fold(0.0, f32::max);
        let first = papers.first().copied().unwrap_or_default();
        let agree = papers.iter().any(|e| e.dense_rank == 1.0 && e.sparse_rank == 1.0);
        QuestionEvidence {
            sentence: max(|e| e.sentence),
            rare_coverage: max(|e| e.rare_coverage),
            cosine: max(|e| e.cosine),
            missing_rare: papers.iter().map(|e| e.missing_rare).fold(1.0, f32::min),
            named: max(|e| e.named),
            agree: f32::from(u8::from(agree)),
            first_sentence: first.sentence,
            both: max(|e| e.sentence * e.rare_coverage),
            least_missing: papers.iter().map(|e| e.missing_mass).reduce(f32::min).unwrap_or(0.0),
            absent,
        }
    }

    fn features(&self) -> [f32; 10] {
        [
            self.sentence,
            self.rare_coverage,
            self.cosine,
            self.missing_rare,
            self.named,
            self.agree,
            self.first_sentence,
            self.both,
            self.least_missing,
            self.absent,
        ]
    }
}

impl Evidence {
    fn features(&self) -> [f32; 10] {
        [
            self.cosine,
            self.sentence,
            self.coverage,
            self.dense_rank,
            self.sparse_rank,
            self.lead,
            self.rare_coverage,
            self.named,
            self.missing_rare,
            self.missing_mass,
        ]
    }
}

/// `[search.relevance.question]`: weights of the question model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuestionWeights {
    pub bias: f32,
    pub sentence: f32,
    pub rare_coverage: f32,
    pub cosine: f32,
    pub missing_rare: f32,
    pub named: f32,
    pub agree: f32,
    pub first_sentence: f32,
    pub both: f32,
    pub least_missing: f32,
    pub absent: f32,
}

/// `[search.relevance.paper]`: weights of the paper model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PaperWeights {
    pub bias: f32,
    pub cosine: f32,
    pub sentence: f32,
    pub coverage: f32,
    pub dense_rank: f32,
    pub sparse_rank: f32,
    pub lead: f32,
    pub rare_coverage: f32,
    pub named: f32,
    pub missing_rare: f32,
    pub missing_mass: f32,
}

impl QuestionWeights {
    const NAMES: [&'static str; 10] = [
        "sentence",
        "rare_coverage",
        "cosine",
        "missing_rare",
        "named",
        "agree",
        "first_sentence",
        "both",
        "least_missing",
        "absent",
    ];

    fn weights(&self) -> [f32; 10] {
        [
            self.sentence,
            self.rare_coverage,
            self.cosine,
            self.missing_rare,
            self.named,
            self.agree,
            self.first_sentence,
            self.both,
            self.least_missing,
            self.absent,
        ]
    }

    fn from_fit(f: &crate::logistic::Fit) -> QuestionWeights {
        let w = |j: usize| f.weights.get(j).copied().unwrap_or(0.0) as f32;
        QuestionWeights {
            bias: f.bias as f32,
            sentence: w(0),
            rare_coverage: w(1),
            cosine: w(2),
            missing_rare: w(3),
            named: w(4),
            agree: w(5),
            first_sentence: w(6),
            both: w(7),
            least_missing: w(8),
            absent: w(9),
        }
    }
}

impl PaperWeights {
    const NAMES: [&'static str; 10] = [
        "cosine",
        "sentence",
        "coverage",
        "dense_rank",
        "sparse_rank",
        "lead",
        "rare_coverage",
        "named",
        "missing_rare",
        "missing_mass",
    ];

    fn weights(&self) -> [f32; 10] {
        [
            self.cosine,
            self.sentence,
            self.coverage,
            self.dense_rank,
            self.sparse_rank,
            self.lead,
            self.rare_coverage,
            self.named,
            self.missing_rare,
            self.missing_mass,
        ]
    }

    fn from_fit(f: &crate::logistic::Fit) -> PaperWeights {
        let w = |j: usize| f.weights.get(j).copied().unwrap_or(0.0) as f32;
        PaperWeights {
            bias: f.bias as f32,
            cosine: w(0),
            sentence: w(1),
            coverage: w(2),
            dense_rank: w(3),
            sparse_rank: w(4),
            lead: w(5),
            rare_coverage: w(6),
            named: w(7),
            missing_rare: w(8),
            missing_mass: w(9),
        }
    }
}

/// `[search.relevance]`: the two fitted models and their decision points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelevanceModel {
    /// A question is answered when the question model gives at least this.
    pub answer_at: f32,
    /// With the LLM's relevance check on (`answer.screen`), a question under
    /// `answer_at` but at least this is not declined outright: the check
    /// decides, and a reply it cannot read declines as before. Fitted to
    /// decline at most 0.5% of answerable questions (`answer_at`: 2%).
    pub check_at: f32,
    /// A candidate joins an answer's sources when the paper model gives at
    /// least this (the best candidate always does).
    pub include_at: f32,
    /// An answered question under this probability gets its offline answer
    /// labelled as the nearest papers, which may not answer it exactly (and
    /// an LLM is reminded it may decline): on the 765 development questions
    /// that label lands on 20 of the 31 off-corpus questions answered and 17
    /// of 507 answerable ones.
    pub hedge_at: f32,
    pub question: QuestionWeights,
    pub paper: PaperWeights,
}

impl Default for QuestionWeights {
    fn default() -> Self {
        RelevanceModel::default().question
    }
}

impl Default for PaperWeights {
    fn default() -> Self {
        RelevanceModel::default().paper
    }
}

impl Default for RelevanceModel {
    /// Fitted with `paperbot eval dev.jsonl --calibrate` on all-MiniLM-L6-v2
    /// and the sample corpus, where `dev.jsonl` is the 1,215 questions of
    /// `tests/eval/heldout.jsonl` … `heldout4.jsonl` and `heldout8.jsonl` …
    /// `heldout10.jsonl` (README, "Is anything in the library relevant?");
    /// `heldout5.jsonl` … `heldout7.jsonl` and `heldout11.jsonl` …
    /// `heldout18.jsonl` are never fitted on.
    fn default() -> Self {
        RelevanceModel {
            answer_at: 0.172,
            check_at: 0.081,
            include_at: 0.050,
            hedge_at: 0.500,
            question: QuestionWeights {
                bias: -13.954,
                sentence: 5.407,
                rare_coverage: 9.584,
                cosine: -2.528,
                missing_rare: 4.560,
                named: 1.923,
                agree: 0.227,
                first_sentence: 2.743,
                both: 6.724,
                least_missing: 2.058,
                absent: -3.678,
            },
            paper: PaperWeights {
                bias: -6.474,
                cosine: -4.841,
                sentence: 10.718,
                coverage: -0.393,
                dense_rank: 1.644,
                sparse_rank: 2.884,
                lead: 4.511,
                rare_coverage: 8.199,
                named: 1.981,
                missing_rare: -1.078,
                missing_mass: -0.039,
            },
        }
    }
}

fn score<const D: usize>(bias: f32, w: [f32; D], x: [f32; D]) -> f32 {
    sigmoid(f64::from(bias + w.iter().zip(x).map(|(w, x)| w * x).sum::<f32>())) as f32
}

fn rows<const D: usize>(rows: impl Iterator<Item = ([f32; D], bool)>) -> Vec<(Vec<f64>, bool)> {
    rows.map(|(x, y)| (x.iter().map(|&v| f64::from(v)).collect(), y))
        .collect()
}

impl RelevanceModel {
    /// Probability that the paper behind `e` is relevant.
    pub fn paper_probability(&self, e: &Evidence) -> f32 {
        score(self.paper.bias, self.paper.weights(), e.features())
    }

    /// Probability that the library answers the question behind `q`.
    pub fn question_probability(&self, q: &QuestionEvidence) -> f32 {
        score(self.question.bias, self.question.weights(), q.features())
    }

    /// Fits the paper model to labelled candidates (see [`crate::logistic`]).
    pub fn fit_papers(&mut self, labelled: &[(Evidence, bool)]) {
        let fit = crate::logistic::fit(&rows(labelled.iter().map(|(e, y)| (e.features(), *y))));
        self.paper = PaperWeights::from_fit(&fit);
    }

    /// Fits the question model to labelled questions.
    pub fn fit_questions(&mut self, labelled: &[(QuestionEvidence, bool)]) {
        let fit = crate::logistic::fit(&rows(labelled.iter().map(|(q, y)| (q.features(), *y))));
        self.question = QuestionWeights::from_fit(&fit);
    }

    /// The model as a `[search.relevance]` section for `paperbot.toml`.
    pub fn to_toml(&self) -> String {
        let mut out = format!(
            "[search.relevance]\nanswer_at = {:.3}\ncheck_at = {:.3}\ninclude_at = {:.3}\nhedge_at = {:.3}\n\n[search.relevance.question]\nbias = {:.3}\n",
            self.answer_at, self.check_at, self.include_at, self.hedge_at, self.question.bias
        );
        for (name, w) in QuestionWeights::NAMES.iter().zip(self.question.weights()) {
            out.push_str(&format!("{name} = {w:.3}\n"));
        }
        out.push_str(&format!("\n[search.relevance.paper]\nbias = {:.3}\n", self.paper.bias));
        for (name, w) in PaperWeights::NAMES.iter().zip(self.paper.weights()) {
            out.push_str(&format!("{name} = {w:.3}\n"));
        }
        out
    }
}

/// One candidate paper, judged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Judged {
    pub evidence: Evidence,
    /// Probability that the paper is relevant to the question.
    pub probability: f32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(cosine: f32, coverage: f32) -> Evidence {
        Evidence {
            cosine,
            sentence: cosine + 0.1,
            coverage,
            dense_rank: 1.0,
            sparse_rank: 0.5,
            lead: 0.0,
            rare_coverage: coverage,
            named: 0.0,
            missing_rare: 1.0 - coverage,
            missing_mass: 1.0 - coverage,
        }
    }

    #[test]
    fn a_question_about_the_literature_is_judged_on_its_subject() {
        let bm25 = Bm25::default();
        let subject = |q: &str| subject_terms(&bm25, &bm25.query(q));
        assert_eq!(subject("which papers report results on AIME?"), subject("AIME"));
        assert_eq!(
            subject("list work on speculative decoding"),
            subject("speculative decoding")
        );
        assert_eq!(
            subject("Which studies use the MATH benchmark?"),
            subject("use the MATH benchmark")
        );
        // A subject word is kept however the question is framed.
        assert_eq!(subject("reward models for math").len(), 3);
        assert!(subject("which papers?").is_empty());
    }

    #[test]
    fn fitting_separates_what_is_separable_and_keeps_the_decision_points() {
        let mut papers = Vec::new();
        let mut questions = Vec::new();
        for i in 0..50 {
            let t = i as f32 / 50.0;
            let (good, bad) = (e(0.5 + 0.3 * t, 0.6 + 0.3 * t), e(0.1 + 0.3 * t, 0.1 + 0.3 * t));
            papers.extend([(good, true), (bad, false)]);
            questions.extend([
                (QuestionEvidence::of(&[good, bad], 0.0), true),
                (QuestionEvidence::of(&[bad], 0.0), false),
            ]);
        }
        let mut m = RelevanceModel {
            answer_at: 0.7,
            ..RelevanceModel::default()
        };
        m.fit_papers(&papers);
        m.fit_questions(&questions);
        assert_eq!(m.answer_at, 0.7);
        assert!(
            papers.iter().all(|(x, y)| (m.paper_probability(x) >= 0.5) == *y),
            "{m:?}"
        );
        assert!(
            questions.iter().all(|(q, y)| (m.question_probability(q) >= 0.5) == *y),
            "{m:?}"
        );
        let toml = m.to_toml();
        assert!(toml.starts_with("[search.relevance]\nanswer_at = 0.700"), "{toml}");
        let back: RelevanceModel = toml::from_str(
            &toml
                .replace("[search.relevance]\n", "")
                .replace("[search.relevance.", "["),
        )
        .unwrap();
        assert!((back.question.sentence - m.question.sentence).abs() < 1e-3);
    }

    #[test]
    fn the_best_evidence_among_candidates_speaks_for_the_question() {
        let q = QuestionEvidence::of(&[e(0.3, 0.2), e(0.6, 0.9)], 0.0);
        assert_eq!(q.cosine, 0.6);
        assert_eq!(q.first_sentence, 0.4);
        assert!((q.missing_rare - 0.1).abs() < 1e-6);
        assert_eq!(q.agree, 0.0);
        // Meaning from one neighbour and terms from another are not one
        // paper with both.
        let (meaning, terms) = (
            Evidence {
                sentence: 0.7,
                rare_coverage: 0.2,
                ..e(0.6, 0.2)
            },
            Evidence {
                sentence: 0.3,
                rare_coverage: 0.9,
                ..e(0.2, 0.9)
            },
        );
        let split = QuestionEvidence::of(&[meaning, terms], 0.0);
        assert_eq!((split.sentence, split.rare_coverage), (0.7, 0.9));
        assert!((split.both - 0.27).abs() < 1e-6, "{split:?}");
        let one = Evidence {
            sentence: 0.7,
            rare_coverage: 0.9,
            ..e(0.6, 0.9)
        };
        // What the best-matched paper lacks counts; a term no candidate has
        // makes the question less likely answerable.
        let lacks = |missing_mass| Evidence { missing_mass, ..one };
        let q = QuestionEvidence::of(&[lacks(0.9), lacks(0.3), lacks(0.6)], 0.4);
        assert_eq!((q.least_missing, q.absent), (0.3, 0.4));
        let m = RelevanceModel::default();
        assert!(
            m.question_probability(&QuestionEvidence::of(&[one], 0.6))
                < m.question_probability(&QuestionEvidence::of(&[one], 0.0))
        );
        assert!(m.question_probability(&QuestionEvidence::of(&[one, terms], 0.0)) > m.question_probability(&split));
        assert!(m.paper_probability(&e(0.7, 0.8)) > m.paper_probability(&e(0.3, 0.8)));
    }
}
