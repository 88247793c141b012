//! Keyword synonym replacement with a finance-aware table written for this project.
//!
//! The table is a list of groups of interchangeable lemmas of one part of speech. Verbs carry all
//! five forms (base, 3rd person, past, past participle, -ing) so that replacing keeps the
//! inflection ("rose" -> "climbed", "has risen" -> "has climbed"); nouns carry singular and plural
//! (a lemma without one of them, like "earnings", only replaces that number). Every group keeps
//! one direction: words of the up group never meet words of the down group, which the tests check
//! against the polarity lexicon below.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::words::{alnum_spans, is_plain_word, match_case, splice, Rng};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pos {
    /// Forms: base, 3rd person singular, past, past participle, -ing.
    Verb,
    /// Forms: singular, plural ("" where the lemma has none).
    Noun,
    /// Adjectives and adverbs: one form.
    Word,
}

const BASE: usize = 0;
const PAST: usize = 2;
const PARTICIPLE: usize = 3;

pub(crate) struct Lemma {
    pub forms: &'static [&'static str],
    /// Verbs: whether it takes a direct object (chosen for passives and "verb + determiner").
    pub transitive: bool,
}

pub(crate) struct Group {
    pub pos: Pos,
    pub lemmas: &'static [Lemma],
}

const fn t(forms: &'static [&'static str]) -> Lemma {
    Lemma {
        forms,
        transitive: true,
    }
}

const fn i(forms: &'static [&'static str]) -> Lemma {
    Lemma {
        forms,
        transitive: false,
    }
}

const fn verbs(lemmas: &'static [Lemma]) -> Group {
    Group {
        pos: Pos::Verb,
        lemmas,
    }
}

const fn nouns(lemmas: &'static [Lemma]) -> Group {
    Group {
        pos: Pos::Noun,
        lemmas,
    }
}

const fn plain(lemmas: &'static [Lemma]) -> Group {
    Group {
        pos: Pos::Word,
        lemmas,
    }
}

/// The synonym table.
pub(crate) const GROUPS: &[Group] = &[
    // Verbs: up.
    verbs(&[
        t(&[
            "increase",
            "increases",
            "increased",
            "increased",
            "increasing",
        ]),
        i(&["rise", "rises", "rose", "risen", "rising"]),
        i(&["climb", "climbs", "climbed", "climbed", "climbing"]),
        t(&["grow", "grows", "grew", "grown", "growing"]),
        // "gained its stake" is not "grew its stake": no object for gain.
        i(&["gain", "gains", "gained", "gained", "gaining"]),
        i(&["advance", "advances", "advanced", "advanced", "advancing"]),
    ]),
    // Verbs: down.
    verbs(&[
        i(&["decline", "declines", "declined", "declined", "declining"]),
        i(&["fall", "falls", "fell", "fallen", "falling"]),
        // "dropped its plan" is abandoning, not falling.
        i(&["drop", "drops", "dropped", "dropped", "dropping"]),
        t(&[
            "decrease",
            "decreases",
            "decreased",
            "decreased",
            "decreasing",
        ]),
        i(&["slip", "slips", "slipped", "slipped", "slipping"]),
        i(&["slide", "slides", "slid", "slid", "sliding"]),
    ]),
    verbs(&[
        t(&["expect", "expects", "expected", "expected", "expecting"]),
        t(&[
            "anticipate",
            "anticipates",
            "anticipated",
            "anticipated",
            "anticipating",
        ]),
        t(&[
            "forecast",
            "forecasts",
            "forecast",
            "forecast",
            "forecasting",
        ]),
        t(&[
            "predict",
            "predicts",
            "predicted",
            "predicted",
            "predicting",
        ]),
    ]),
    verbs(&[
        t(&["acquire", "acquires", "acquired", "acquired", "acquiring"]),
        t(&["buy", "buys", "bought", "bought", "buying"]),
        t(&[
            "purchase",
            "purchases",
            "purchased",
            "purchased",
            "purchasing",
        ]),
    ]),
    verbs(&[
        t(&["cut", "cuts", "cut", "cut", "cutting"]),
        t(&["reduce", "reduces", "reduced", "reduced", "reducing"]),
        t(&["lower", "lowers", "lowered", "lowered", "lowering"]),
        t(&["trim", "trims", "trimmed", "trimmed", "trimming"]),
    ]),
    verbs(&[
        t(&["raise", "raises", "raised", "raised", "raising"]),
        t(&["boost", "boosts", "boosted", "boosted", "boosting"]),
        t(&["lift", "lifts", "lifted", "lifted", "lifting"]),
    ]),
    verbs(&[
        t(&["improve", "improves", "improved", "improved", "improving"]),
        t(&[
            "strengthen",
            "strengthens",
            "strengthened",
            "strengthened",
            "strengthening",
        ]),
    ]),
    verbs(&[
        t(&["weaken", "weakens", "weakened", "weakened", "weakening"]),
        i(&[
            "deteriorate",
            "deteriorates",
            "deteriorated",
            "deteriorated",
            "deteriorating",
        ]),
        t(&["worsen", "worsens", "worsened", "worsened", "worsening"]),
    ]),
    verbs(&[
        t(&["say", "says", "said", "said", "saying"]),
        t(&["state", "states", "stated", "stated", "stating"]),
    ]),
    verbs(&[
        t(&["report", "reports", "reported", "reported", "reporting"]),
        t(&["post", "posts", "posted", "posted", "posting"]),
    ]),
    verbs(&[
        t(&["launch", "launches", "launched", "launched", "launching"]),
        t(&[
            "introduce",
            "introduces",
            "introduced",
            "introduced",
            "introducing",
        ]),
        t(&["unveil", "unveils", "unveiled", "unveiled", "unveiling"]),
    ]),
    verbs(&[
        t(&[
            "complete",
            "completes",
            "completed",
            "completed",
            "completing",
        ]),
        t(&[
            "finalize",
            "finalizes",
            "finalized",
            "finalized",
            "finalizing",
        ]),
    ]),
    verbs(&[
        t(&["sign", "signs", "signed", "signed", "signing"]),
        t(&[
            "conclude",
            "concludes",
            "concluded",
            "concluded",
            "concluding",
        ]),
    ]),
    verbs(&[
        t(&["supply", "supplies", "supplied", "supplied", "supplying"]),
        t(&[
            "deliver",
            "delivers",
            "delivered",
            "delivered",
            "delivering",
        ]),
        t(&["provide", "provides", "provided", "provided", "providing"]),
    ]),
    verbs(&[
        t(&["hire", "hires", "hired", "hired", "hiring"]),
        t(&[
            "recruit",
            "recruits",
            "recruited",
            "recruited",
            "recruiting",
        ]),
    ]),
    // Nouns.
    nouns(&[
        t(&["profit", "profits"]),
        t(&["income", ""]),
        t(&["", "earnings"]),
    ]),
    nouns(&[t(&["loss", "losses"]), t(&["deficit", "deficits"])]),
    nouns(&[
        t(&["revenue", "revenues"]),
        t(&["", "sales"]),
        t(&["turnover", ""]),
    ]),
    nouns(&[t(&["", "shares"]), t(&["", "stocks"])]),
    nouns(&[t(&["quarter", "quarters"]), t(&["period", "periods"])]),
    nouns(&[
        t(&["outlook", ""]),
        t(&["guidance", ""]),
        t(&["forecast", "forecasts"]),
    ]),
    nouns(&[t(&["company", "companies"]), t(&["firm", "firms"])]),
    nouns(&[t(&["customer", "customers"]), t(&["client", "clients"])]),
    nouns(&[t(&["agreement", "agreements"]), t(&["deal", "deals"])]),
    nouns(&[
        t(&["plant", "plants"]),
        t(&["facility", "facilities"]),
        t(&["factory", "factories"]),
    ]),
    nouns(&[t(&["employee", "employees"]), t(&["worker", "workers"])]),
    nouns(&[
        t(&["increase", "increases"]),
        t(&["rise", "rises"]),
        t(&["gain", "gains"]),
    ]),
    nouns(&[
        t(&["decline", "declines"]),
        t(&["decrease", "decreases"]),
        t(&["drop", "drops"]),
        t(&["fall", "falls"]),
    ]),
    nouns(&[t(&["cut", "cuts"]), t(&["reduction", "reductions"])]),
    nouns(&[t(&["growth", ""]), t(&["expansion", ""])]),
    nouns(&[
        t(&["acquisition", "acquisitions"]),
        t(&["purchase", "purchases"]),
        t(&["takeover", "takeovers"]),
    ]),
    nouns(&[t(&["cost", "costs"]), t(&["expense", "expenses"])]),
    nouns(&[t(&["target", "targets"]), t(&["goal", "goals"])]),
    nouns(&[t(&["unit", "units"]), t(&["division", "divisions"])]),
    // Adjectives and adverbs.
    plain(&[t(&["strong"]), t(&["robust"]), t(&["solid"])]),
    plain(&[t(&["weak"]), t(&["soft"]), t(&["sluggish"])]),
    plain(&[
        t(&["significant"]),
        t(&["substantial"]),
        t(&["considerable"]),
    ]),
    plain(&[
        t(&["significantly"]),
        t(&["substantially"]),
        t(&["considerably"]),
    ]),
    plain(&[t(&["sharp"]), t(&["steep"])]),
    plain(&[t(&["sharply"]), t(&["steeply"])]),
    plain(&[t(&["slight"]), t(&["modest"]), t(&["marginal"])]),
    plain(&[t(&["slightly"]), t(&["marginally"]), t(&["modestly"])]),
    plain(&[t(&["previous"]), t(&["prior"]), t(&["preceding"])]),
    plain(&[t(&["approximately"]), t(&["roughly"])]),
    plain(&[t(&["currently"]), t(&["presently"])]),
    plain(&[t(&["largest"]), t(&["biggest"])]),
    plain(&[t(&["rapid"]), t(&["quick"])]),
    plain(&[t(&["rapidly"]), t(&["quickly"])]),
    plain(&[t(&["positive"]), t(&["favourable"]), t(&["upbeat"])]),
    plain(&[t(&["negative"]), t(&["unfavourable"]), t(&["adverse"])]),
    plain(&[t(&["annual"]), t(&["yearly"])]),
    plain(&[t(&["global"]), t(&["worldwide"])]),
    plain(&[t(&["profitable"]), t(&["lucrative"])]),
];

/// Direction/sentiment lexicon (base forms; `polarity` also resolves the table's inflections).
/// +1: up or good, -1: down or bad. Used to prove the table never flips polarity and to keep
/// contextual neighbours from doing so.
const POSITIVE: &[&str] = &[
    "increase",
    "rise",
    "climb",
    "grow",
    "gain",
    "advance",
    "jump",
    "surge",
    "soar",
    "rebound",
    "recover",
    "improve",
    "strengthen",
    "boost",
    "raise",
    "lift",
    "expand",
    "exceed",
    "beat",
    "outperform",
    "profit",
    "profits",
    "earnings",
    "income",
    "growth",
    "expansion",
    "strong",
    "robust",
    "solid",
    "positive",
    "favourable",
    "favorable",
    "upbeat",
    "profitable",
    "lucrative",
    "good",
    "better",
    "best",
    "record",
    "high",
    "higher",
    "highest",
    "up",
    "success",
    "successful",
    "win",
    "won",
    "upgrade",
    "bullish",
    "optimistic",
    "improvement",
    "increase",
    "rises",
    "gains",
    "excellent",
    "great",
];
const NEGATIVE: &[&str] = &[
    "decline",
    "fall",
    "drop",
    "decrease",
    "slip",
    "slide",
    "plunge",
    "plummet",
    "tumble",
    "sink",
    "slump",
    "shrink",
    "cut",
    "reduce",
    "lower",
    "trim",
    "weaken",
    "deteriorate",
    "worsen",
    "loss",
    "losses",
    "deficit",
    "weak",
    "soft",
    "sluggish",
    "negative",
    "unfavourable",
    "unfavorable",
    "adverse",
    "bad",
    "worse",
    "worst",
    "low",
    "lowest",
    "down",
    "poor",
    "failure",
    "fail",
    "downgrade",
    "bearish",
    "pessimistic",
    "layoff",
    "layoffs",
    "lose",
    "lost",
    "reduction",
    "miss",
    "warning",
    "bankruptcy",
    "decrease",
    "declines",
    "falls",
    "drops",
];

/// Surface form -> every (group, lemma, form) where it occurs.
type FormIndex = HashMap<&'static str, Vec<(usize, usize, usize)>>;

/// Where each surface form occurs.
fn index() -> &'static FormIndex {
    static INDEX: OnceLock<FormIndex> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut map: FormIndex = HashMap::new();
        for (g, group) in GROUPS.iter().enumerate() {
            for (l, lemma) in group.lemmas.iter().enumerate() {
                for (f, form) in lemma.forms.iter().enumerate() {
                    if !form.is_empty() {
                        map.entry(form).or_default().push((g, l, f));
                    }
                }
            }
        }
        map
    })
}

/// Number of lemmas in the table.
pub fn table_size() -> usize {
    GROUPS.iter().map(|g| g.lemmas.len()).sum()
}

/// Whether two words are forms of one lemma of the table ("rose" and "rising").
pub(crate) fn same_lemma(a: &str, b: &str) -> bool {
    let (Some(ra), Some(rb)) = (index().get(a), index().get(b)) else {
        return false;
    };
    ra.iter()
        .any(|x| rb.iter().any(|y| x.0 == y.0 && x.1 == y.1))
}

/// Inflectional shape of a word, from the table's verb forms when it knows the word, else from
/// its suffix: contextual neighbours must share it so that the sentence stays grammatical.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    Plain,
    ThirdOrPlural,
    Past,
    Ing,
}

pub(crate) fn shape(word: &str) -> Shape {
    let w = word.to_ascii_lowercase();
    if let Some(&(_, _, f)) = index()
        .get(w.as_str())
        .and_then(|r| r.iter().find(|r| GROUPS[r.0].pos == Pos::Verb))
    {
        return match f {
            1 => Shape::ThirdOrPlural,
            PAST | PARTICIPLE => Shape::Past,
            4 => Shape::Ing,
            _ => Shape::Plain,
        };
    }
    if w.ends_with("ing") {
        Shape::Ing
    } else if w.ends_with("ed") {
        Shape::Past
    } else if w.ends_with('s') && !w.ends_with("ss") && !w.ends_with("us") && !w.ends_with("is") {
        Shape::ThirdOrPlural
    } else {
        Shape::Plain
    }
}

/// +1 (up/good), -1 (down/bad) or 0, for any inflection the table knows, else by suffix stripping.
pub fn polarity(word: &str) -> i8 {
    let w = word.to_ascii_lowercase();
    let direct = |x: &str| -> Option<i8> {
        if POSITIVE.contains(&x) {
            Some(1)
        } else if NEGATIVE.contains(&x) {
            Some(-1)
        } else {
            None
        }
    };
    if let Some(p) = direct(&w) {
        return p;
    }
    if let Some(hits) = index().get(w.as_str()) {
        for &(g, l, _) in hits {
            let lemma = &GROUPS[g].lemmas[l];
            if let Some(p) = lemma
                .forms
                .iter()
                .filter(|f| !f.is_empty())
                .find_map(|f| direct(f))
            {
                return p;
            }
        }
    }
    for suffix in ["ing", "ed", "es", "s", "d"] {
        if let Some(stem) = w.strip_suffix(suffix) {
            if let Some(p) = direct(stem) {
                return p;
            }
            // "rising" -> "ris" -> "rise", "declined" -> "declin" -> "decline".
            if let Some(p) = direct(&format!("{stem}e")) {
                return p;
            }
        }
    }
    0
}

const DETERMINERS: &[&str] = &[
    "a", "an", "the", "its", "their", "his", "her", "our", "this", "that", "these", "those", "any",
    "no", "each", "every", "some", "such", "further",
];
/// Words after which a verb's next word starts its object.
const OBJECT_STARTERS: &[&str] = &["a", "an", "the", "its", "their", "his", "her", "our"];
const PERFECT: &[&str] = &["has", "have", "had", "having"];
const BE: &[&str] = &["is", "are", "was", "were", "be", "been", "being"];
const INFINITIVE: &[&str] = &[
    "to", "will", "would", "can", "could", "may", "might", "should", "must", "shall", "not", "did",
    "does", "do",
];
const PREPOSITIONS: &[&str] = &["in", "of", "at", "with", "by", "from", "for", "on", "into"];
/// "declined to comment" is refusing, not falling.
const REFUSALS: &[&str] = &[
    "comment",
    "disclose",
    "elaborate",
    "give",
    "say",
    "specify",
    "provide",
    "reveal",
    "name",
    "discuss",
    "confirm",
];

/// Words that may follow a head noun; any other lower-case word right after a table noun makes it
/// a modifier ("sales prices", "sales management") that its synonyms cannot replace.
const NOUN_FOLLOWERS: &[&str] = &[
    "in",
    "of",
    "to",
    "from",
    "by",
    "at",
    "on",
    "with",
    "for",
    "as",
    "during",
    "over",
    "under",
    "into",
    "after",
    "before",
    "since",
    "than",
    "per",
    "via",
    "and",
    "or",
    "but",
    "while",
    "although",
    "whereas",
    "because",
    "so",
    "who",
    "which",
    "that",
    "whose",
    "where",
    "when",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "has",
    "have",
    "had",
    "will",
    "would",
    "could",
    "should",
    "may",
    "might",
    "must",
    "can",
    "shall",
    "do",
    "does",
    "did",
    "s",
    "also",
    "totalled",
    "totaled",
    "amounted",
    "stood",
    "came",
    "remained",
    "reached",
    "continued",
    "increased",
    "rose",
    "fell",
    "up",
    "down",
    "excluding",
    "including",
    "year",
    "totals",
    "amounts",
];

/// Whether a table noun followed directly (no punctuation) by `next` is a head noun.
fn head_noun_before(next: &str) -> bool {
    NOUN_FOLLOWERS.contains(&next)
        || next.ends_with("ed")
        || index().get(next).is_some_and(|r| {
            r.iter()
                .any(|x| GROUPS[x.0].pos == Pos::Verb && x.2 != BASE)
        })
}

/// Which (group, lemma, form) reading of the word at `pos` to use, and whether the target must
/// take an object; None when the context makes the word unsafe to replace.
fn resolve(
    words: &[String],
    pos: usize,
    followed_by_word: bool,
) -> Option<(usize, usize, usize, bool)> {
    let word = words[pos].as_str();
    let readings = index().get(word)?;
    let prev = if pos > 0 { words[pos - 1].as_str() } else { "" };
    let next = words.get(pos + 1).map(String::as_str).unwrap_or("");
    let after_next = words.get(pos + 2).map(String::as_str).unwrap_or("");
    let non_verbs: Vec<_> = readings
        .iter()
        .filter(|r| GROUPS[r.0].pos != Pos::Verb)
        .copied()
        .collect();
    let verb_readings: Vec<_> = readings
        .iter()
        .filter(|r| GROUPS[r.0].pos == Pos::Verb)
        .copied()
        .collect();
    if verb_readings.is_empty() || DETERMINERS.contains(&prev) {
        // A noun or modifier; after a determiner a verb-only word is a noun we do not know.
        let &(g, l, f) = non_verbs.first()?;
        if GROUPS[g].pos == Pos::Noun && followed_by_word && !head_noun_before(next) {
            return None;
        }
        return Some((g, l, f, false));
    }
    let forms: Vec<usize> = verb_readings.iter().map(|r| r.2).collect();
    let (g, l, _) = verb_readings[0];
    if GROUPS[g].lemmas[l].forms[BASE] == "decline"
        && next == "to"
        && REFUSALS.contains(&after_next)
    {
        return None;
    }
    let object_follows = OBJECT_STARTERS.contains(&next);
    let form = if PERFECT.contains(&prev) && forms.contains(&PARTICIPLE) {
        PARTICIPLE
    } else if BE.contains(&prev) {
        // Passive ("was increased") or progressive ("is increasing"); "was lower" is an adjective.
        if forms.contains(&PARTICIPLE) {
            return Some((g, l, PARTICIPLE, true));
        } else if forms.contains(&4) {
            4
        } else {
            return None;
        }
    } else if INFINITIVE.contains(&prev) && forms.contains(&BASE) {
        BASE
    } else if PREPOSITIONS.contains(&prev) && !forms.contains(&4) {
        // "in lower costs": a modifier, not a verb.
        return None;
    } else if forms.contains(&PAST) {
        PAST
    } else {
        forms[0]
    };
    Some((g, l, form, object_follows))
}

/// Whether the word at `s..e` is part of a hyphenated or slashed compound ("cost-cutting").
pub(crate) fn in_compound(text: &str, s: usize, e: usize) -> bool {
    let joined = |c: char| c == '-' || c == '/';
    text[..s].ends_with(joined) || text[e..].starts_with(joined)
}

/// Replaces up to `max_replacements` table words of `text` by synonyms, keeping inflection and
/// capitalisation. Words equal (case-insensitively, any form of their lemma) to one of `keywords`
/// are replaced first. Returns the new text and a detail such as "rose -> climbed; profit ->
/// income", or None when no word of the table can be replaced.
pub fn synonym_replace(
    text: &str,
    seed: u64,
    max_replacements: usize,
    keywords: &[String],
) -> Option<(String, String)> {
    let spans = alnum_spans(text);
    let words: Vec<String> = spans
        .iter()
        .map(|&(s, e)| text[s..e].to_ascii_lowercase())
        .collect();
    let keywords: Vec<String> = keywords.iter().map(|k| k.to_ascii_lowercase()).collect();
    let mut preferred: Vec<usize> = Vec::new();
    let mut others: Vec<usize> = Vec::new();
    for (p, &(s, e)) in spans.iter().enumerate() {
        if !is_plain_word(&text[s..e])
            || !index().contains_key(words[p].as_str())
            || in_compound(text, s, e)
        {
            continue;
        }
        let readings = &index()[words[p].as_str()];
        let is_keyword = readings.iter().any(|&(g, l, _)| {
            GROUPS[g].lemmas[l]
                .forms
                .iter()
                .any(|f| !f.is_empty() && keywords.iter().any(|k| k == f))
        });
        if is_keyword {
            preferred.push(p);
        } else {
            others.push(p);
        }
    }
    let mut rng = Rng::new(seed);
    rng.shuffle(&mut preferred);
    rng.shuffle(&mut others);
    let mut edits: Vec<((usize, usize), String)> = Vec::new();
    let mut details: Vec<(usize, String)> = Vec::new();
    for p in preferred.into_iter().chain(others) {
        if details.len() >= max_replacements {
            break;
        }
        let followed_by_word = spans
            .get(p + 1)
            .is_some_and(|&(ns, _)| text[spans[p].1..ns].chars().all(char::is_whitespace));
        let Some((g, l, f, needs_object)) = resolve(&words, p, followed_by_word) else {
            continue;
        };
        let source = words[p].as_str();
        let targets: Vec<&str> = GROUPS[g]
            .lemmas
            .iter()
            .enumerate()
            .filter(|&(k, lemma)| {
                k != l
                    && !lemma.forms[f].is_empty()
                    && lemma.forms[f] != source
                    && (!needs_object || lemma.transitive)
            })
            .map(|(_, lemma)| lemma.forms[f])
            .collect();
        if targets.is_empty() {
            continue;
        }
        let target = targets[rng.below(targets.len())];
        let (s, e) = spans[p];
        let original = &text[s..e];
        let replaced = match_case(original, target);
        details.push((s, format!("{original} -> {replaced}")));
        // "an increase" -> "a rise": the article follows the new word's first sound (by letter).
        if p > 0 && (words[p - 1] == "a" || words[p - 1] == "an") {
            let starts_vowel = target.starts_with(['a', 'e', 'i', 'o', 'u']);
            let article = if starts_vowel { "an" } else { "a" };
            let (a_s, a_e) = spans[p - 1];
            edits.push(((a_s, a_e), match_case(&text[a_s..a_e], article)));
        }
        edits.push(((s, e), replaced));
    }
    if edits.is_empty() {
        return None;
    }
    // Edits were gathered in random order; splice needs them in text order.
    edits.sort_by_key(|edit| edit.0 .0);
    details.sort_by_key(|d| d.0);
    let detail: Vec<String> = details.into_iter().map(|d| d.1).collect();
    Some((splice(text, &edits), detail.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first seed in 0..200 whose result satisfies `pred`, with the result.
    fn find(text: &str, pred: impl Fn(&str) -> bool) -> (u64, String, String) {
        for seed in 0..200 {
            if let Some((out, detail)) = synonym_replace(text, seed, 1, &[]) {
                if pred(&out) {
                    return (seed, out, detail);
                }
            }
        }
        panic!("no seed gives the wanted output for {text:?}");
    }

    fn all_outputs(text: &str, max: usize, keywords: &[String]) -> Vec<String> {
        let mut outs: Vec<String> = (0..300)
            .filter_map(|seed| synonym_replace(text, seed, max, keywords).map(|(o, _)| o))
            .collect();
        outs.sort();
        outs.dedup();
        outs
    }

    #[test]
    fn table_is_large_and_every_form_list_has_its_shape() {
        assert!(table_size() >= 60, "table has {} lemmas", table_size());
        for group in GROUPS {
            assert!(group.lemmas.len() >= 2);
            for lemma in group.lemmas {
                let want = match group.pos {
                    Pos::Verb => 5,
                    Pos::Noun => 2,
                    Pos::Word => 1,
                };
                assert_eq!(lemma.forms.len(), want, "{:?}", lemma.forms);
                assert!(lemma.forms.iter().any(|f| !f.is_empty()));
            }
        }
    }

    #[test]
    fn past_tense_becomes_past_tense() {
        let text = "Operating profit rose to EUR 13.1 mn from EUR 8.7 mn.";
        let outs = all_outputs(text, 1, &["rose".to_string()]);
        assert_eq!(
            outs,
            vec![
                "Operating profit advanced to EUR 13.1 mn from EUR 8.7 mn.",
                "Operating profit climbed to EUR 13.1 mn from EUR 8.7 mn.",
                "Operating profit gained to EUR 13.1 mn from EUR 8.7 mn.",
                "Operating profit grew to EUR 13.1 mn from EUR 8.7 mn.",
                "Operating profit increased to EUR 13.1 mn from EUR 8.7 mn.",
            ]
        );
        let (_, out, detail) = find(text, |o| o.contains("climbed"));
        assert_eq!(
            out,
            "Operating profit climbed to EUR 13.1 mn from EUR 8.7 mn."
        );
        assert_eq!(detail, "rose -> climbed");
    }

    #[test]
    fn irregular_and_progressive_forms() {
        let (_, out, _) = find("Net sales increased by 5 %.", |o| o.contains("rose"));
        assert_eq!(out, "Net sales rose by 5 %.");
        let (_, out, _) = find("Net sales increased by 5 %.", |o| o.contains("grew"));
        assert_eq!(out, "Net sales grew by 5 %.");
        let (_, out, _) = find("Prices are rising in Finland.", |o| o.contains("climbing"));
        assert_eq!(out, "Prices are climbing in Finland.");
        let (_, out, _) = find("Demand increases every year.", |o| o.contains("rises"));
        assert_eq!(out, "Demand rises every year.");
        let (_, out, _) = find("Orders have fallen sharply.", |o| o.contains("declined"));
        assert_eq!(out, "Orders have declined sharply.");
        let (_, out, _) = find("Orders have fallen steeply.", |o| o.contains("slid "));
        assert_eq!(out, "Orders have slid steeply.");
        let (_, out, _) = find("Sales have risen.", |o| o.contains("grown"));
        assert_eq!(out, "Sales have grown.");
        let (_, out, _) = find("The company bought a stake.", |o| o.contains("acquired"));
        assert_eq!(out, "The company acquired a stake.");
    }

    #[test]
    fn context_rules_keep_grammar() {
        // Passive: only verbs that take an object ("was risen" is not English).
        let outs = all_outputs("The price was increased.", 1, &[]);
        assert_eq!(outs, vec!["The price was grown."]);
        // An object follows: the target must be transitive.
        let outs = all_outputs("Nokia increased its stake.", 1, &[]);
        assert_eq!(outs, vec!["Nokia grew its stake."]);
        // A noun used as a modifier, or inside a compound, is left alone.
        assert_eq!(synonym_replace("Higher sales prices.", 1, 2, &[]), None);
        assert_eq!(synonym_replace("The cost-cutting program", 1, 2, &[]), None);
        assert_eq!(
            all_outputs("Net sales , however , rose.", 1, &["sales".into()]),
            vec!["Net revenues , however , rose."]
        );
        assert_eq!(
            all_outputs("Net sales totalled EUR 5 mn.", 1, &[]),
            vec!["Net revenues totalled EUR 5 mn."]
        );
        // "was lower" is an adjective, "in lower costs" a modifier: not replaced.
        assert_eq!(
            synonym_replace("Profit was lower.", 1, 1, &[]).map(|x| x.0),
            Some("Income was lower.".into())
        );
        assert_eq!(
            synonym_replace("This resulted in lower prices.", 1, 1, &[]),
            None
        );
        // Refusing, not falling.
        assert_eq!(
            synonym_replace("Nokia declined to comment.", 3, 1, &[]),
            None
        );
        // Noun after a determiner: the noun group is used.
        let outs = all_outputs("There was an increase.", 1, &[]);
        // ... and the article follows the new word.
        assert_eq!(outs, vec!["There was a gain.", "There was a rise."]);
        let outs = all_outputs("Expect a rise.", 1, &["rise".into()]);
        assert_eq!(outs, vec!["Expect a gain.", "Expect an increase."]);
    }

    #[test]
    fn noun_number_is_kept() {
        assert_eq!(
            all_outputs("Profits fell.", 1, &["profits".into()]),
            vec!["Earnings fell."]
        );
        assert_eq!(
            all_outputs("Its profit fell.", 1, &["profit".into()]),
            vec!["Its income fell."]
        );
        assert_eq!(
            all_outputs("Quarterly sales", 1, &[]),
            vec!["Quarterly revenues"]
        );
    }

    #[test]
    fn capitalisation_is_kept() {
        let (_, out, detail) = find("Rose by 4 % in the period.", |o| o.starts_with("Climbed"));
        assert_eq!(out, "Climbed by 4 % in the period.");
        assert_eq!(detail, "Rose -> Climbed");
        let (_, out, _) = find("SALES fell.", |o| o.starts_with("REVENUES"));
        assert_eq!(out, "REVENUES fell.");
    }

    #[test]
    fn keywords_are_replaced_first_and_seed_is_deterministic() {
        let text = "Sales rose and profit was strong.";
        for seed in 0..50 {
            let (out, detail) = synonym_replace(text, seed, 1, &["strong".into()]).unwrap();
            assert!(detail.starts_with("strong -> "), "{detail}");
            assert!(out.starts_with("Sales rose and profit was "));
            assert_eq!(
                synonym_replace(text, seed, 1, &["strong".into()]),
                Some((out, detail))
            );
        }
        let a: Vec<_> = (0..20).map(|s| synonym_replace(text, s, 3, &[])).collect();
        let b: Vec<_> = (0..20).map(|s| synonym_replace(text, s, 3, &[])).collect();
        assert_eq!(a, b);
        // Different seeds do explore different variants.
        assert!(all_outputs(text, 3, &[]).len() > 5);
        assert_eq!(synonym_replace("Nothing here matches.", 1, 2, &[]), None);
    }

    #[test]
    fn polarity_never_flips_anywhere_in_the_table() {
        // Every lemma of a group has the same polarity, so no replacement can flip it.
        for group in GROUPS {
            let polarities: Vec<(String, i8)> = group
                .lemmas
                .iter()
                .map(|l| {
                    let w = l.forms.iter().find(|f| !f.is_empty()).unwrap().to_string();
                    let p = polarity(&w);
                    (w, p)
                })
                .collect();
            let first = polarities[0].1;
            assert!(
                polarities.iter().all(|(_, p)| *p == first),
                "mixed polarity group {polarities:?}"
            );
        }
        // The lexicon actually classifies the inflections we substitute.
        for (w, p) in [
            ("rose", 1),
            ("risen", 1),
            ("grew", 1),
            ("climbing", 1),
            ("fell", -1),
            ("fallen", -1),
            ("slid", -1),
            ("declined", -1),
            ("losses", -1),
            ("strong", 1),
            ("sluggish", -1),
            ("said", 0),
            ("quarter", 0),
        ] {
            assert_eq!(polarity(w), p, "{w}");
        }
        // And exhaustively on real substitutions: each form in a neutral frame, many seeds.
        for group in GROUPS {
            for lemma in group.lemmas {
                for form in lemma.forms.iter().filter(|f| !f.is_empty()) {
                    let text = format!("Sales {form} now");
                    let want = polarity(form);
                    for seed in 0..10 {
                        if let Some((out, detail)) = synonym_replace(&text, seed, 1, &[]) {
                            let new_word = out.split(' ').nth(1).unwrap();
                            if new_word != *form {
                                assert_eq!(polarity(new_word), want, "{text} -> {out} ({detail})");
                            }
                        }
                    }
                }
            }
        }
    }
}
