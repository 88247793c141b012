use super::*;

fn s(text: &str, label: usize) -> TrainingSample {
    TrainingSample {
        id: sample_id(text),
        text: text.into(),
        label,
    }
}

fn neighbours(pairs: &[(&str, &str)]) -> NeighbourIndex {
    NeighbourIndex {
        neighbours: pairs
            .iter()
            .map(|(w, n)| {
                (
                    w.to_string(),
                    vec![Neighbour {
                        word: n.to_string(),
                        similarity: 0.8,
                    }],
                )
            })
            .collect(),
    }
}

#[test]
fn duplicates_of_training_or_generated_texts_are_dropped() {
    let train = vec![
        s("Nokia rose.", 2),
        s("Nokia grew.", 2),
        // Every synonym variant of the two priority samples already is a training text.
        s("Nokia increased.", 2),
        s("Nokia climbed.", 2),
        s("Nokia gained.", 2),
        s("Nokia advanced.", 2),
        s("Nokia held its annual meeting.", 1),
        s("The meeting was held in Espoo.", 1),
    ];
    let embeddings = vec![
        vec![1.0, 0.0],
        vec![0.9, 0.1],
        vec![0.5, 0.5],
        vec![0.5, 0.5],
        vec![0.5, 0.5],
        vec![0.5, 0.5],
        vec![1.0, 0.2],
        vec![0.0, 1.0],
    ];
    let priority = vec![
        Confusion {
            id: train[0].id.clone(),
            true_label: 2,
            confused_with: 1,
        },
        Confusion {
            id: train[1].id.clone(),
            true_label: 2,
            confused_with: 1,
        },
    ];
    // Both priority samples map to the same contextual variant "Nokia soared.".
    let index = neighbours(&[("rose", "soared"), ("grew", "soared")]);
    let inputs = AugmentInputs {
        train: &train,
        priority: &priority,
        keywords: &[],
        neighbours: Some(&index),
        sentence_embeddings: Some(&embeddings),
    };
    let result = augment_priority_samples(&inputs, &AugmentConfig::default()).unwrap();
    assert_eq!(
        result.samples,
        vec![
            Augmented {
                text: "Nokia soared.".into(),
                label: 2,
                source_id: train[0].id.clone(),
                method: Method::ContextualSubstitution,
                detail: "rose -> soared (cos 0.80)".into(),
            },
            Augmented {
                text: "Nokia held its annual meeting.".into(),
                label: 1,
                source_id: train[6].id.clone(),
                method: Method::HardNegative,
                detail: format!("nearest to {} (similarity 0.98)", train[0].id),
            },
        ]
    );
    // Two synonym variants (training texts), one contextual (repeat), one hard negative (same mined).
    assert_eq!(result.dropped_duplicates, 4);
    let counts: Vec<(Method, usize)> = result.counts.into_iter().collect();
    assert_eq!(
        counts,
        vec![
            (Method::SynonymReplacement, 0),
            (Method::ContextualSubstitution, 1),
            (Method::HardNegative, 1),
        ]
    );
    assert_eq!(result.examples.len(), 2);
    assert_eq!(result.examples[0].original, "Nokia rose.");
    assert_eq!(result.examples[0].augmented, "Nokia soared.");
    assert_eq!(result.examples[1].original, "Nokia rose.");
    assert_eq!(
        result.examples[1].augmented,
        "Nokia held its annual meeting."
    );
    // A cap keeps a seeded subset of what was generated, and says how many it left out.
    let capped = AugmentConfig {
        max_samples: Some(1),
        ..AugmentConfig::default()
    };
    let first = augment_priority_samples(&inputs, &capped).unwrap();
    assert_eq!(first.samples.len(), 1);
    assert_eq!(first.dropped_over_cap, 1);
    assert_eq!(first.counts.values().sum::<usize>(), 1);
    assert!(result.samples.contains(&first.samples[0]));
    assert_eq!(augment_priority_samples(&inputs, &capped).unwrap(), first);
}

#[test]
fn synonym_variants_keep_label_and_source_and_are_seeded() {
    let train = vec![
        s("Operating profit rose to EUR 13.1 mn.", 2),
        s("Net sales fell in the quarter.", 0),
        s("The company is based in Espoo.", 1),
    ];
    let priority: Vec<Confusion> = train[..2]
        .iter()
        .map(|t| Confusion {
            id: t.id.clone(),
            true_label: t.label,
            confused_with: 1,
        })
        .collect();
    let inputs = AugmentInputs {
        train: &train,
        priority: &priority,
        keywords: &["rose".to_string()],
        neighbours: None,
        sentence_embeddings: None,
    };
    let config = AugmentConfig {
        max_synonym_replacements: 1,
        ..AugmentConfig::default()
    };
    let a = augment_priority_samples(&inputs, &config).unwrap();
    let b = augment_priority_samples(&inputs, &config).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.samples.len(), 2);
    assert_eq!(a.counts[&Method::SynonymReplacement], 2);
    for (aug, src) in a.samples.iter().zip(&train) {
        assert_eq!(aug.method, Method::SynonymReplacement);
        assert_eq!(aug.label, src.label);
        assert_eq!(aug.source_id, src.id);
        assert_ne!(aug.text, src.text);
        assert!(train
            .iter()
            .all(|t| sample_id(&t.text) != sample_id(&aug.text)));
    }
    // The keyword is what gets replaced in the first sample.
    assert!(
        a.samples[0].detail.starts_with("rose -> "),
        "{}",
        a.samples[0].detail
    );
    assert!(a.samples[0].text.starts_with("Operating profit "));
    // Seeds matter: over a few seeds the variants differ.
    let texts: BTreeSet<String> = (0..20)
        .map(|seed| {
            let c = AugmentConfig {
                seed,
                ..config.clone()
            };
            augment_priority_samples(&inputs, &c).unwrap().samples[0]
                .text
                .clone()
        })
        .collect();
    assert!(texts.len() >= 3, "{texts:?}");
    let json = serde_json::to_value(&a.samples[0]).unwrap();
    assert_eq!(json["method"], "synonym_replacement");
    assert_eq!(
        serde_json::to_value(Method::ContextualSubstitution).unwrap(),
        "contextual_substitution"
    );
    assert_eq!(
        serde_json::to_value(Method::HardNegative).unwrap(),
        "hard_negative"
    );
    assert!(a.back_translation.contains("translation model"));
}

#[test]
fn priority_samples_must_be_training_samples() {
    let train = vec![s("Sales rose.", 2)];
    let priority = vec![Confusion {
        id: sample_id("A validation sentence."),
        true_label: 0,
        confused_with: 1,
    }];
    let inputs = AugmentInputs {
        train: &train,
        priority: &priority,
        keywords: &[],
        neighbours: None,
        sentence_embeddings: None,
    };
    let err = augment_priority_samples(&inputs, &AugmentConfig::default()).unwrap_err();
    assert!(matches!(err, AugmentError::NotTraining { .. }));
    assert!(err.to_string().contains("not among the training samples"));
}
