//! The candle MiniLM matches sentence-transformers numerically. Reference
//! vectors in tests/data/minilm_reference.json were made with
//! sentence-transformers (see the file's `library` field) from the same
//! model files; the set includes a text longer than 256 tokens (truncation),
//! a one-letter text and non-ASCII text.

use paperbot::embed::minilm::{DIM, EngineKind, MAX_TOKENS, MiniLm, Precision};

#[derive(serde::Deserialize)]
struct Reference {
    sentences: Vec<String>,
    embeddings: Vec<Vec<f32>>,
    max_seq_length: usize,
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

/// Both engines (packed, the default, and candle-transformers' BertModel).
#[test]
fn minilm_matches_sentence_transformers() {
    for kind in [EngineKind::Packed(Precision::F32), EngineKind::Candle] {
        matches_reference(
            MiniLm::load_engine(&crate::support::model_dir(), 4, kind).unwrap(),
            0.999,
        );
    }
}

/// The int8 path (AVX-512 VNNI) holds cosine ≥ 0.99 to sentence-transformers.
#[test]
fn int8_minilm_matches_sentence_transformers() {
    if !paperbot::embed::minilm::int8_available() {
        println!("skipped: this CPU lacks AVX-512 VNNI, the int8 path cannot run");
        return;
    }
    let kind = EngineKind::Packed(Precision::Int8);
    let model = MiniLm::load_engine(&crate::support::model_dir(), 4, kind).unwrap();
    assert_eq!(model.precision(), Some(Precision::Int8));
    let (worst, text) = matches_reference(model, 0.99);
    println!("int8 vs sentence-transformers: minimum cosine {worst:.5} ({text:?})");
}

/// Checks every reference text to cosine ≥ `bound`; returns the minimum
/// and the start of its text.
fn matches_reference(model: MiniLm, bound: f32) -> (f32, String) {
    let reference: Reference =
        serde_json::from_slice(&std::fs::read(crate::support::data("minilm_reference.json")).unwrap()).unwrap();
    assert_eq!(reference.max_seq_length, MAX_TOKENS);
    let texts: Vec<&str> = reference.sentences.iter().map(String::as_str).collect();
    // Batched with mixed lengths (padding must not leak into the mean).
    let ours = model.embed(&texts).unwrap();
    let mut worst = (1f32, String::new());
    for ((text, want), got) in texts.iter().zip(&reference.embeddings).zip(&ours) {
        assert_eq!(got.len(), DIM);
        let norm: f32 = got.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "L2-normalised");
        let c = cosine(got, want);
        if c < worst.0 {
            worst = (c, text.chars().take(40).collect());
        }
        assert!(c >= bound, "cosine {c} for {:?}", &text[..text.len().min(60)]);
    }
    // One at a time gives the same vectors as batched.
    let single = model.embed(&texts[..1]).unwrap();
    assert!(cosine(&single[0], &ours[0]) > 0.99999);
    // The long text really is longer than the model's window.
    assert!(texts.iter().any(|t| model.token_count(t) == MAX_TOKENS));
    worst
}

#[test]
fn missing_model_names_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let err = MiniLm::load(dir.path(), 4).err().expect("no model there").to_string();
    assert!(err.contains("paperbot model fetch"), "{err}");
}

/// The packed engine against candle's on the whole sample corpus, batched
/// with mixed lengths (packing must not mix sequences) and one by one.
#[test]
fn packed_engine_matches_candle_on_the_corpus() {
    let text = std::fs::read_to_string(crate::support::corpus()).unwrap();
    let abstracts: Vec<&str> = text.lines().filter(|l| l.len() > 200).take(24).collect();
    assert!(abstracts.len() >= 20);
    let mut texts = abstracts.clone();
    texts.extend(["a", "graph neural networks", "Ünïcödé ✓ 数学"]);
    let packed = MiniLm::load_engine(&crate::support::model_dir(), 16, EngineKind::Packed(Precision::F32)).unwrap();
    let candle = MiniLm::load_engine(&crate::support::model_dir(), 16, EngineKind::Candle).unwrap();
    let a = packed.embed(&texts).unwrap();
    let b = candle.embed(&texts).unwrap();
    for ((t, x), y) in texts.iter().zip(&a).zip(&b) {
        let c = cosine(x, y);
        assert!(c > 0.99999, "cosine {c} for {:?}", &t[..t.len().min(60)]);
    }
    for (i, t) in texts.iter().enumerate().step_by(7) {
        let one = packed.embed(&[t]).unwrap();
        assert!(cosine(&one[0], &a[i]) > 0.99999, "alone vs batched: {t:?}");
    }
}

/// The int8 path against the packed f32 engine on the sample corpus's
/// abstracts (batched with mixed lengths, and alone): cosine ≥ 0.99 each.
#[test]
fn int8_engine_matches_f32_on_the_corpus() {
    if !paperbot::embed::minilm::int8_available() {
        println!("skipped: this CPU lacks AVX-512 VNNI, the int8 path cannot run");
        return;
    }
    let text = std::fs::read_to_string(crate::support::corpus()).unwrap();
    let mut texts: Vec<&str> = text.lines().filter(|l| l.len() > 200).take(40).collect();
    assert!(texts.len() >= 20);
    texts.extend(["a", "graph neural networks", "Ünïcödé ✓ 数学"]);
    let dir = crate::support::model_dir();
    let f32 = MiniLm::load_engine(&dir, 16, EngineKind::Packed(Precision::F32)).unwrap();
    let int8 = MiniLm::load_engine(&dir, 16, EngineKind::Packed(Precision::Int8)).unwrap();
    let a = f32.embed(&texts).unwrap();
    let b = int8.embed(&texts).unwrap();
    let mut worst = (1f32, "");
    for ((t, x), y) in texts.iter().zip(&a).zip(&b) {
        let c = cosine(x, y);
        if c < worst.0 {
            worst = (c, t);
        }
        assert!(c >= 0.99, "cosine {c} for {:?}", &t[..t.len().min(60)]);
    }
    let abstracts = texts.iter().zip(&a).zip(&b).take(texts.len() - 3);
    let worst_abstract = abstracts.map(|((_, x), y)| cosine(x, y)).fold(1f32, f32::min);
    println!(
        "int8 vs f32 on {} corpus texts: minimum cosine {:.5} ({:?}); over the abstracts alone {worst_abstract:.5}",
        texts.len(),
        worst.0,
        worst.1.chars().take(40).collect::<String>()
    );
    for (i, t) in texts.iter().enumerate().step_by(7) {
        let one = int8.embed(&[t]).unwrap();
        // Per-row quantization: a text's vector does not depend on its batch.
        assert!(cosine(&one[0], &b[i]) > 0.99999, "alone vs batched: {t:?}");
    }
}
