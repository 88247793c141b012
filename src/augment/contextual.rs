//! Contextual substitution by the model's own word-embedding neighbours: a word of a sentence is
//! replaced by the whole-word vocabulary token whose input embedding is the most cosine-similar.
//!
//! Neighbours are precomputed only for the words that occur in the given texts, with one matmul
//! of a chunk of normalised query rows against the whole normalised vocabulary matrix. Neighbour
//! candidates are plain lower-case whole words (no [CLS]/[SEP]/[unused], no ##-pieces, no
//! punctuation or numbers, no stop words), never the word itself or its plural/case variants, and
//! never a word of another polarity (input embeddings put "rose" next to "fell").

use std::collections::{BTreeMap, BTreeSet, HashMap};

use candle_core::{DType, Device, Tensor};

use super::synonyms::{in_compound, polarity, same_lemma, shape, Shape};
use super::words::{alnum_spans, is_plain_word, match_case, splice, Rng};
use super::AugmentError;

/// Query rows per matmul: 256 x 30522 f32 similarities are ~31 MB.
const QUERY_CHUNK: usize = 256;
/// Shortest word considered (as a replaced word and as a neighbour).
const MIN_LEN: usize = 3;

/// English function words that are never replaced nor used as replacements.
const STOP_WORDS: &[&str] = &[
    "the",
    "and",
    "for",
    "are",
    "but",
    "not",
    "you",
    "all",
    "any",
    "can",
    "had",
    "her",
    "was",
    "one",
    "our",
    "out",
    "has",
    "have",
    "his",
    "its",
    "from",
    "with",
    "this",
    "that",
    "these",
    "those",
    "they",
    "them",
    "their",
    "there",
    "then",
    "than",
    "were",
    "will",
    "would",
    "could",
    "should",
    "shall",
    "been",
    "being",
    "into",
    "onto",
    "upon",
    "about",
    "above",
    "below",
    "after",
    "before",
    "also",
    "very",
    "such",
    "some",
    "what",
    "which",
    "who",
    "whom",
    "whose",
    "when",
    "where",
    "why",
    "how",
    "each",
    "both",
    "more",
    "most",
    "other",
    "only",
    "own",
    "same",
    "too",
    "just",
    "over",
    "under",
    "again",
    "further",
    "once",
    "here",
    "while",
    "during",
    "between",
    "through",
    "because",
    "until",
    "against",
    "per",
    "via",
    "does",
    "did",
    "doing",
    "may",
    "might",
    "must",
    "she",
    "him",
    "himself",
    "herself",
    "itself",
    "themselves",
    "ours",
    "yours",
    "your",
    "mine",
    "yet",
    "nor",
    "off",
    "now",
    "said",
    "says",
    "say",
    "mr",
    "mrs",
    "ms",
    "also",
    "since",
    "within",
    "without",
    "across",
    "among",
    "along",
    "around",
    "whether",
    "either",
    "neither",
    "every",
    "several",
    "lot",
    "well",
    "still",
    "even",
    "much",
    "many",
    "few",
    "less",
    "least",
    "however",
    "thus",
    "therefore",
];

fn is_stop_word(w: &str) -> bool {
    STOP_WORDS.contains(&w)
}

/// Whether `candidate` is `word` itself, a case variant or a plural/singular of it.
fn is_variant(word: &str, candidate: &str) -> bool {
    let w = word.to_ascii_lowercase();
    let c = candidate.to_ascii_lowercase();
    if w == c {
        return true;
    }
    let plural = |a: &str, b: &str| {
        b == format!("{a}s")
            || b == format!("{a}es")
            || (a.ends_with('y') && b == format!("{}ies", &a[..a.len() - 1]))
    };
    plural(&w, &c) || plural(&c, &w)
}

/// Whether `candidate` belongs to the morphological family of `word`: a case or number variant,
/// a form of the same table lemma ("rose"/"rising"), or a shared stem (common prefix of at least
/// 3 letters reaching to within 3 letters of the shorter word: "weak"/"weakened", "loss"/"loses").
fn same_family(word: &str, candidate: &str) -> bool {
    if is_variant(word, candidate) {
        return true;
    }
    let w = word.to_ascii_lowercase();
    let c = candidate.to_ascii_lowercase();
    if same_lemma(&w, &c) {
        return true;
    }
    let common = w.bytes().zip(c.bytes()).take_while(|(a, b)| a == b).count();
    let shorter = w.len().min(c.len());
    common >= 3 && common + 3 >= shorter
}

/// A vocabulary token usable as a neighbour.
fn is_candidate_token(token: &str) -> bool {
    token.len() >= MIN_LEN && token.bytes().all(|b| b.is_ascii_lowercase()) && !is_stop_word(token)
}

/// One neighbour of a word.
#[derive(Clone, Debug, PartialEq)]
pub struct Neighbour {
    pub word: String,
    pub similarity: f32,
}

/// The precomputed neighbours (best first) of every eligible word of the given texts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NeighbourIndex {
    pub neighbours: BTreeMap<String, Vec<Neighbour>>,
}

impl NeighbourIndex {
    /// The nearest neighbour of `word` (any case), if it has one.
    pub fn nearest(&self, word: &str) -> Option<&Neighbour> {
        self.neighbours
            .get(&word.to_ascii_lowercase())
            .and_then(|n| n.first())
    }
}

/// Lower-case words of `texts` that can be replaced: plain ASCII words of 3+ letters, not stop
/// words, present in the vocabulary as a whole-word token.
fn query_words(texts: &[&str], vocab: &HashMap<String, u32>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for text in texts {
        for (s, e) in alnum_spans(text) {
            let w = &text[s..e];
            if !is_plain_word(w) {
                continue;
            }
            let lower = w.to_ascii_lowercase();
            if lower.len() >= MIN_LEN && !is_stop_word(&lower) && vocab.contains_key(&lower) {
                out.insert(lower);
            }
        }
    }
    out
}

fn tensor_err(what: &'static str) -> impl Fn(candle_core::Error) -> AugmentError {
    move |source| AugmentError::Tensor { what, source }
}

/// The best `top_k` + 32 candidates by similarity (ties: lower id), sorted; the caller drops the
/// word's own family from them (so a word with more than 32 relatives among its nearest tokens
/// may get fewer than `top_k` neighbours). Only the head of the list is sorted: a full sort per query
/// word would cost 30522 log 30522 comparisons each.
fn head_sorted(mut scored: Vec<(f32, usize)>, top_k: usize) -> Vec<(f32, usize)> {
    let order = |a: &(f32, usize), b: &(f32, usize)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    // A word's family rarely has more than a dozen members among its nearest tokens.
    let slack = 32;
    let keep = top_k + slack;
    if scored.len() > keep {
        scored.select_nth_unstable_by(keep - 1, order);
        scored.truncate(keep);
    }
    scored.sort_by(order);
    scored
}

/// Precomputes the `top_k` nearest neighbours of the words of `texts`, from `embeddings`
/// ([vocab, hidden], e.g. `bert.embeddings.word_embeddings.weight`) and the tokenizer's
/// vocabulary (token -> id). Ties go to the lower token id.
pub fn build_neighbours(
    embeddings: &Tensor,
    vocab: &HashMap<String, u32>,
    texts: &[&str],
    top_k: usize,
) -> Result<NeighbourIndex, AugmentError> {
    let matrix = embeddings
        .to_device(&Device::Cpu)
        .and_then(|t| t.to_dtype(DType::F32))
        .map_err(tensor_err("word embeddings to f32"))?;
    let (rows, _hidden) = matrix.dims2().map_err(|_| AugmentError::EmbeddingShape {
        shape: matrix.dims().to_vec(),
    })?;
    if let Some((token, &id)) = vocab.iter().find(|(_, &id)| id as usize >= rows) {
        return Err(AugmentError::VocabOutOfRange {
            token: token.clone(),
            id,
            rows,
        });
    }
    let norms = matrix
        .sqr()
        .and_then(|t| t.sum_keepdim(1))
        .and_then(|t| t.sqrt())
        .and_then(|t| t.clamp(1e-12f32, f32::MAX))
        .map_err(tensor_err("row norms"))?;
    let normalised = matrix
        .broadcast_div(&norms)
        .map_err(tensor_err("normalise rows"))?;
    let transposed = normalised
        .t()
        .and_then(|t| t.contiguous())
        .map_err(tensor_err("transpose"))?;

    // Token, polarity and shape of each candidate id, computed once (not per query).
    let mut candidates: Vec<Option<(&str, i8, Shape)>> = vec![None; rows];
    for (token, &id) in vocab {
        if is_candidate_token(token) {
            candidates[id as usize] = Some((token.as_str(), polarity(token), shape(token)));
        }
    }
    let queries: Vec<String> = query_words(texts, vocab).into_iter().collect();
    let mut index = NeighbourIndex::default();
    for chunk in queries.chunks(QUERY_CHUNK) {
        let ids: Vec<u32> = chunk.iter().map(|w| vocab[w]).collect();
        let ids = Tensor::new(ids.as_slice(), &Device::Cpu).map_err(tensor_err("query ids"))?;
        let sims: Vec<Vec<f32>> = normalised
            .index_select(&ids, 0)
            .and_then(|q| q.matmul(&transposed))
            .and_then(|s| s.to_vec2())
            .map_err(tensor_err("query x vocabulary similarities"))?;
        for (word, row) in chunk.iter().zip(sims) {
            let want = (polarity(word), shape(word));
            let scored: Vec<(f32, usize)> = row
                .iter()
                .enumerate()
                .filter_map(|(id, &sim)| {
                    let (_, p, sh) = candidates[id]?;
                    ((p, sh) == want && sim.is_finite()).then_some((sim, id))
                })
                .collect();
            let best: Vec<Neighbour> = head_sorted(scored, top_k)
                .into_iter()
                .map(|(similarity, id)| Neighbour {
                    word: candidates[id].map(|c| c.0).unwrap_or_default().to_string(),
                    similarity,
                })
                .filter(|n| !same_family(word, &n.word))
                .take(top_k)
                .collect();
            if !best.is_empty() {
                index.neighbours.insert(word.clone(), best);
            }
        }
    }
    Ok(index)
}

/// Replaces up to `max_words` distinct words of `text` (chosen by `seed`) by their nearest
/// neighbour, keeping capitalisation. Returns the text and a detail such as
/// "profit -> earnings (cos 0.71)", or None when no word of the text has a neighbour.
pub fn contextual_substitute(
    text: &str,
    index: &NeighbourIndex,
    seed: u64,
    max_words: usize,
) -> Option<(String, String)> {
    let mut positions: Vec<(usize, usize)> = Vec::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for (s, e) in alnum_spans(text) {
        let w = &text[s..e];
        if is_plain_word(w)
            && !in_compound(text, s, e)
            && index.nearest(w).is_some()
            && seen.insert(w.to_ascii_lowercase())
        {
            positions.push((s, e));
        }
    }
    let mut rng = Rng::new(seed);
    rng.shuffle(&mut positions);
    positions.truncate(max_words);
    if positions.is_empty() {
        return None;
    }
    positions.sort();
    let mut edits: Vec<((usize, usize), String)> = Vec::new();
    let mut details: Vec<String> = Vec::new();
    for (s, e) in positions {
        let original = &text[s..e];
        let n = index.nearest(original)?;
        let replaced = match_case(original, &n.word);
        details.push(format!(
            "{original} -> {replaced} (cos {:.2})",
            n.similarity
        ));
        edits.push(((s, e), replaced));
    }
    Some((splice(text, &edits), details.join("; ")))
}

/// `build_neighbours` with the vocabulary of a `tokenizers::Tokenizer` (added tokens included;
/// they are filtered out as candidates anyway).
pub fn build_neighbours_for_tokenizer(
    embeddings: &Tensor,
    tokenizer: &tokenizers::Tokenizer,
    texts: &[&str],
    top_k: usize,
) -> Result<NeighbourIndex, AugmentError> {
    let vocab: HashMap<String, u32> = tokenizer.get_vocab(true);
    build_neighbours(embeddings, &vocab, texts, top_k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> (Tensor, HashMap<String, u32>) {
        let tokens = [
            "[PAD]", "[CLS]", "[SEP]", "profit", "profits", "earnings", "##ing", "the", "rose",
            "fell", "climbed", "42", "income", "sales", "revenues",
        ];
        #[rustfmt::skip]
        let rows: [[f32; 3]; 15] = [
            [0.0, 0.0, 0.0],   // [PAD]
            [1.0, 0.0, 0.0],   // [CLS]: identical direction to profit, but special
            [0.9, 0.1, 0.0],   // [SEP]
            [1.0, 0.0, 0.0],   // profit
            [1.0, 0.01, 0.0],  // profits: a plural variant, excluded
            [0.9, 0.3, 0.0],   // earnings: nearest, but plural where profit is singular
            [1.0, 0.0, 0.001], // ##ing: a piece, excluded
            [1.0, 0.0, 0.0],   // the: a stop word, excluded
            [0.0, 1.0, 0.0],   // rose
            [0.0, 0.99, 0.1],  // fell: nearest to rose, but opposite polarity
            [0.0, 0.9, 0.4],   // climbed
            [0.0, 1.0, 0.0],   // 42: not a word
            [0.8, 0.5, 0.0],   // income
            [0.0, 0.0, 1.0],   // sales
            [0.1, 0.0, 0.9],   // revenues: neutral and plural like sales
        ];
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        let t = Tensor::from_vec(flat, (15, 3), &Device::Cpu).unwrap();
        let vocab = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.to_string(), i as u32))
            .collect();
        (t, vocab)
    }

    #[test]
    fn tiny_matrix_picks_the_exact_neighbours() {
        let (emb, vocab) = tiny();
        let index = build_neighbours(&emb, &vocab, &["Profit rose, the 42 SALES."], 3).unwrap();
        // Only words of the text (not stop words, not numbers) are indexed.
        assert_eq!(
            index.neighbours.keys().cloned().collect::<Vec<_>>(),
            vec!["profit", "rose", "sales"]
        );
        let profit: Vec<&str> = index.neighbours["profit"]
            .iter()
            .map(|n| n.word.as_str())
            .collect();
        // Only positive words of the same (singular) shape qualify: not "earnings", not "rose".
        assert_eq!(profit, vec!["income"]);
        let cos = 0.8 / (0.64f32 + 0.25).sqrt();
        assert!((index.neighbours["profit"][0].similarity - cos).abs() < 1e-6);
        assert_eq!(index.nearest("sales").unwrap().word, "revenues");
        // "fell" is closer to "rose" but of opposite polarity; "income"/"profit" are positive too.
        assert_eq!(index.nearest("rose").unwrap().word, "climbed");
        let (out, detail) = contextual_substitute("Profit rose.", &index, 7, 1).unwrap();
        assert!(out == "Income rose." || out == "Profit climbed.", "{out}");
        assert!(detail.contains(" -> "));
        let (out, detail) = contextual_substitute("Profit rose.", &index, 7, 2).unwrap();
        assert_eq!(out, "Income climbed.");
        assert_eq!(
            detail,
            "Profit -> Income (cos 0.85); rose -> climbed (cos 0.91)"
        );
        // One word: the seed picks which, and both occur.
        let ones: BTreeSet<String> = (0..20)
            .map(|seed| {
                contextual_substitute("Profit rose.", &index, seed, 1)
                    .unwrap()
                    .0
            })
            .collect();
        assert_eq!(
            ones.into_iter().collect::<Vec<_>>(),
            vec!["Income rose.", "Profit climbed."]
        );
        assert_eq!(contextual_substitute("Nothing known.", &index, 7, 2), None);
    }

    #[test]
    fn variants_are_recognised() {
        assert!(is_variant("profit", "Profits"));
        assert!(is_variant("company", "companies"));
        assert!(is_variant("losses", "loss"));
        assert!(!is_variant("profit", "earnings"));
        assert!(same_family("rose", "rising"));
        assert!(same_family("weak", "weakened"));
        assert!(same_family("losses", "loses"));
        assert!(same_family("increased", "increase"));
        assert!(!same_family("profit", "income"));
        assert!(!same_family("rose", "surged"));
    }

    #[test]
    fn real_minilm_word_embedding_neighbours() {
        let dir = crate::assets::ensure(crate::assets::Asset::MiniLmL6).unwrap();
        let labels: Vec<String> = ["negative", "neutral", "positive"]
            .map(String::from)
            .to_vec();
        let (_, weights, report) = crate::model::load_hf_dir(&dir, &labels, 42).unwrap();
        let emb = &weights["bert.embeddings.word_embeddings.weight"];
        assert_eq!(emb.dims(), &[30522, 384]);
        let tok = tokenizers::Tokenizer::from_file(report.tokenizer.unwrap()).unwrap();
        let texts = ["Operating profit rose as revenue and quarterly sales increased; the company expects weak demand and losses."];
        let index = build_neighbours_for_tokenizer(emb, &tok, &texts, 5).unwrap();
        let vocab = tok.get_vocab(true);
        for word in [
            "profit", "revenue", "sales", "company", "weak", "losses", "rose", "expects",
        ] {
            let n = &index.neighbours[word];
            let shown: Vec<String> = n
                .iter()
                .map(|n| format!("{} {:.3}", n.word, n.similarity))
                .collect();
            println!("neighbours of {word}: {}", shown.join(", "));
            for nb in n {
                assert!(vocab.contains_key(&nb.word));
                assert!(is_candidate_token(&nb.word), "{}", nb.word);
                assert!(!same_family(word, &nb.word), "{word} -> {}", nb.word);
                assert_eq!(shape(&nb.word), shape(word), "{word} -> {}", nb.word);
                assert_eq!(polarity(&nb.word), polarity(word), "{word} -> {}", nb.word);
                assert!(nb.similarity > 0.0 && nb.similarity < 1.0);
            }
            assert!(n.windows(2).all(|w| w[0].similarity >= w[1].similarity));
        }
        assert_ne!(index.nearest("profit").unwrap().word, "profit");
        assert_ne!(index.nearest("profit").unwrap().word, "profits");
        assert!(!index.neighbours.contains_key("the"));
        // Cost at the scale of a training set: every 4th whole word of the vocabulary as a query.
        let mut words: Vec<(&String, &u32)> = vocab.iter().collect();
        words.sort_by_key(|(_, &id)| id);
        let mut many: Vec<&str> = words.iter().step_by(4).map(|(w, _)| w.as_str()).collect();
        many.push("profit");
        let started = std::time::Instant::now();
        let big = build_neighbours(emb, &vocab, &many, 5).unwrap();
        println!(
            "neighbours for {} query words in {:.2} s",
            big.neighbours.len(),
            started.elapsed().as_secs_f64()
        );
        assert!(big.neighbours.len() > 3000);
        assert_eq!(big.neighbours["profit"], index.neighbours["profit"]);
        let (out, detail) = contextual_substitute(texts[0], &index, 1, 2).unwrap();
        println!("contextual: {out} [{detail}]");
        assert_ne!(out, texts[0]);
        assert_eq!(detail.matches(" -> ").count(), 2);
    }
}
