//! Shared test helpers, property tests and whole-sampler tests.

use proptest::prelude::*;

use super::*;

/// Candidates with logits ln(p), stage applied to the unsorted list.
pub(crate) fn run_stage(stage: &mut dyn Stage, probs: &[f32]) -> Candidates {
    let mut c = Candidates::from_probs(probs);
    stage.apply(&mut c);
    c
}

/// Same, but sorted + softmaxed first (the state after top-k).
pub(crate) fn run_stage_sorted(stage: &mut dyn Stage, probs: &[f32]) -> Candidates {
    let mut c = Candidates::from_probs(probs);
    c.sort();
    c.softmax();
    stage.apply(&mut c);
    c
}

/// The kept set is `expected` (original probabilities, any order) and the
/// probabilities are the renormalised originals.
#[track_caller]
pub(crate) fn assert_probs(c: &Candidates, expected: &[f32]) {
    let mut got: Vec<f32> = c.data.iter().map(|t| t.logit.exp()).collect();
    got.sort_by(|a, b| b.total_cmp(a));
    let mut exp = expected.to_vec();
    exp.sort_by(|a, b| b.total_cmp(a));
    assert_eq!(got.len(), exp.len(), "kept {got:?}, expected {exp:?}");
    for (g, e) in got.iter().zip(&exp) {
        assert!((g - e).abs() < 1e-5, "kept {got:?}, expected {exp:?}");
    }
    let mut c = c.clone();
    c.ensure_probs();
    let total: f32 = exp.iter().sum();
    for t in &c.data {
        let e = t.logit.exp() / total;
        assert!((t.p - e).abs() < 1e-4, "p {} vs {e}", t.p);
    }
}

/// Probabilities sum to one: directly when flagged valid, and after softmax.
#[track_caller]
fn assert_normalized(c: &Candidates) {
    assert!(!c.is_empty());
    if c.probs_valid() {
        let s: f64 = c.data.iter().map(|t| t.p as f64).sum();
        assert!((s - 1.0).abs() < 1e-4, "valid probs sum to {s}");
    }
    // lazily renormalised probabilities == a fresh softmax of the kept set
    let mut lazy = c.clone();
    lazy.ensure_probs();
    let mut c = c.clone();
    c.softmax();
    let s: f64 = c.data.iter().map(|t| t.p as f64).sum();
    assert!((s - 1.0).abs() < 1e-4, "softmax sums to {s}");
    assert!(c.data.iter().all(|t| t.p.is_finite() && t.p >= 0.0));
    for (a, b) in lazy.data.iter().zip(&c.data) {
        assert!((a.p - b.p).abs() < 1e-5, "lazy {} vs softmax {}", a.p, b.p);
    }
}

fn sorted_logits(c: &Candidates) -> Vec<f32> {
    let mut v: Vec<f32> = c.data.iter().map(|t| t.logit).collect();
    v.sort_by(|a, b| b.total_cmp(a));
    v
}

fn desc_sorted(v: &[f32]) -> Vec<f32> {
    let mut v = v.to_vec();
    v.sort_by(|a, b| b.total_cmp(a));
    v
}

/// Reference probabilities exactly as `Candidates::softmax` computes them,
/// paired with logits, sorted descending.
fn ref_sorted_probs(logits: &[f32]) -> Vec<(f32, f32)> {
    let mut c = Candidates::from_logits(logits);
    c.softmax();
    let mut v: Vec<(f32, f32)> = c.data.iter().map(|t| (t.logit, t.p)).collect();
    v.sort_by(|a, b| b.0.total_cmp(&a.0));
    v
}

fn logits_strategy() -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(
        prop_oneof![
            9 => -20.0f32..20.0,
            1 => Just(f32::NEG_INFINITY),
            1 => Just(1.5f32), // ties
        ],
        1..300,
    )
    .prop_filter("need a finite logit", |v| v.iter().any(|x| x.is_finite()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn prop_top_k(logits in logits_strategy(), k in 0i32..400, presorted in any::<bool>()) {
        let mut c = Candidates::from_logits(&logits);
        if presorted { c.sort(); c.softmax(); }
        TopK::new(k).apply(&mut c);
        assert_normalized(&c);
        let n = if k == 0 { logits.len() } else { (k as usize).min(logits.len()) };
        prop_assert_eq!(sorted_logits(&c), desc_sorted(&logits)[..n].to_vec());
    }

    #[test]
    fn prop_top_p(logits in logits_strategy(), p in 0.0f32..1.0, min_keep in 0usize..5, presorted in any::<bool>()) {
        let mut c = Candidates::from_logits(&logits);
        if presorted { c.sort(); c.softmax(); }
        TopP::new(p, min_keep).apply(&mut c);
        assert_normalized(&c);
        let r = ref_sorted_probs(&logits);
        let total: f64 = r.iter().map(|x| x.1 as f64).sum();
        let mut cum = 0.0f64;
        let mut m = r.len();
        for (i, (_, q)) in r.iter().enumerate() {
            cum += *q as f64;
            if cum >= p as f64 * total { m = i + 1; break; }
        }
        let m = m.max(min_keep.max(1)).min(r.len());
        let expect: Vec<f32> = r[..m].iter().map(|x| x.0).collect();
        prop_assert_eq!(sorted_logits(&c), expect);
    }

    #[test]
    fn prop_min_p(logits in logits_strategy(), p in 0.0f32..=1.0, min_keep in 0usize..5, presorted in any::<bool>()) {
        let mut c = Candidates::from_logits(&logits);
        if presorted { c.sort(); c.softmax(); }
        MinP::new(p, min_keep).apply(&mut c);
        assert_normalized(&c);
        let all = desc_sorted(&logits);
        let expect: Vec<f32> = if p <= 0.0 {
            all
        } else {
            let thr = all[0] + p.ln();
            let n = all.iter().filter(|&&l| l >= thr).count().max(min_keep.max(1)).min(all.len());
            all[..n].to_vec()
        };
        prop_assert_eq!(sorted_logits(&c), expect);
    }

    #[test]
    fn prop_typical(logits in logits_strategy(), p in 0.0f32..1.0, presorted in any::<bool>()) {
        let mut c = Candidates::from_logits(&logits);
        if presorted { c.sort(); c.softmax(); }
        Typical::new(p, 1).apply(&mut c);
        assert_normalized(&c);
        let r = ref_sorted_probs(&logits);
        let h: f32 = r.iter().filter(|x| x.1 > 0.0).map(|x| -x.1 * x.1.ln()).sum();
        let mut scored: Vec<(f32, f32, f32)> =
            r.iter().map(|&(l, q)| ((-q.ln() - h).abs(), q, l)).collect();
        scored.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut cum = 0.0f64;
        let mut m = scored.len();
        for (i, s) in scored.iter().enumerate() {
            cum += s.1 as f64;
            if cum > p as f64 { m = i + 1; break; }
        }
        // ties in score at the cut make the set ambiguous: compare sizes and
        // that every kept candidate is at least as typical as the cut.
        prop_assert_eq!(c.len(), m);
        let cut = scored[m - 1].0;
        for t in &c.data {
            let q = r.iter().find(|x| x.0 == t.logit).unwrap().1;
            prop_assert!((-q.ln() - h).abs() <= cut);
        }
    }

    #[test]
    fn prop_tail_free(logits in logits_strategy(), z in 0.0f32..=1.0) {
        let mut c = Candidates::from_logits(&logits);
        TailFree::new(z, 1).apply(&mut c);
        assert_normalized(&c);
        let r = ref_sorted_probs(&logits);
        let n = r.len();
        let mut keep = n;
        if z < 1.0 && n > 2 {
            let d2: Vec<f32> = (0..n - 2)
                .map(|i| ((r[i].1 - r[i + 1].1) - (r[i + 1].1 - r[i + 2].1)).abs())
                .collect();
            let s: f32 = d2.iter().sum();
            let d2: Vec<f32> = if s > 1e-6 {
                d2.iter().map(|v| v / s).collect()
            } else {
                vec![1.0 / d2.len() as f32; d2.len()]
            };
            let mut cum = 0.0f32;
            for (i, v) in d2.iter().enumerate() {
                cum += v;
                if cum > z && i >= 1 { keep = i; break; }
            }
        }
        let expect: Vec<f32> = r[..keep].iter().map(|x| x.0).collect();
        prop_assert_eq!(sorted_logits(&c), expect);
    }

    #[test]
    fn prop_temperature_keeps_set(logits in logits_strategy(), t in 0.05f32..5.0) {
        let mut c = Candidates::from_logits(&logits);
        Temperature::new(t).apply(&mut c);
        assert_normalized(&c);
        prop_assert_eq!(c.len(), logits.len());
    }

    #[test]
    fn prop_default_chain_picks_a_kept_finite_token(logits in logits_strategy(), seed in 0i64..1000) {
        let s = SamplerSettings { seed, ..Default::default() };
        let mut smp = Sampler::new(s, logits.len(), &[], None).unwrap();
        let tok = smp.sample(&logits);
        prop_assert!(logits[tok as usize].is_finite());
        assert_normalized(smp.candidates());
        prop_assert!(smp.candidates().data.iter().any(|t| t.id == tok));
    }
}

/// Chi-square statistic of observed counts vs expected probabilities.
fn chi_square(counts: &[u64], probs: &[f64]) -> f64 {
    let n: u64 = counts.iter().sum();
    counts
        .iter()
        .zip(probs)
        .map(|(&o, &p)| {
            let e = p * n as f64;
            (o as f64 - e).powi(2) / e
        })
        .sum()
}

#[test]
fn dist_frequencies_match_distribution() {
    let probs = [0.05f32, 0.1, 0.15, 0.2, 0.5];
    let mut d = Dist::new(1234);
    let mut c = Candidates::from_probs(&probs);
    let mut counts = [0u64; 5];
    for _ in 0..100_000 {
        d.apply(&mut c);
        counts[c.selected_token().unwrap() as usize] += 1;
    }
    let p64: Vec<f64> = probs.iter().map(|&p| p as f64).collect();
    // df = 4, 99.9% quantile = 18.47
    let chi = chi_square(&counts, &p64);
    assert!(chi < 18.47, "chi2 = {chi}, counts {counts:?}");
}

#[test]
fn full_chain_frequencies_match_truncated_distribution() {
    // 8 tokens; default chain (top_p 0.95, min_p 0.05, temp 0.8) trims the tail.
    let logits = [2.0f32, 1.5, 1.0, 0.5, 0.0, -1.0, -3.0, -6.0];
    let s = SamplerSettings {
        seed: 7,
        ..Default::default()
    };
    let mut smp = Sampler::new(s, logits.len(), &[], None).unwrap();
    smp.sample(&logits);
    let mut expect = vec![0.0f64; logits.len()];
    for t in &smp.candidates().data {
        expect[t.id as usize] = t.p as f64;
    }
    // reference: min-p 0.05 at temp 1 cuts ln(0.05) = -3.0 below the max
    // (-1.0 is kept, -3.0 is not); top-p 0.95 is applied before that.
    assert!(expect[6] == 0.0 && expect[7] == 0.0);
    let mut counts = vec![0u64; logits.len()];
    for _ in 0..60_000 {
        counts[smp.sample(&logits) as usize] += 1;
    }
    let (c2, p2): (Vec<u64>, Vec<f64>) = counts
        .iter()
        .zip(&expect)
        .filter(|(_, &p)| p > 0.0)
        .map(|(&c, &p)| (c, p))
        .unzip();
    assert_eq!(counts.iter().sum::<u64>(), c2.iter().sum::<u64>());
    // df <= 5, 99.9% quantile = 20.52
    let chi = chi_square(&c2, &p2);
    assert!(chi < 20.52, "chi2 = {chi}");
}

fn gen(smp: &mut Sampler, logits: &[f32], n: usize) -> Vec<TokenId> {
    (0..n)
        .map(|i| {
            // vary the logits a bit per step, deterministic
            let l: Vec<f32> = logits
                .iter()
                .enumerate()
                .map(|(j, &x)| x + ((i * 31 + j * 17) % 7) as f32 * 0.1)
                .collect();
            let t = smp.sample(&l);
            smp.accept(t);
            t
        })
        .collect()
}

fn test_logits(n: usize) -> Vec<f32> {
    (0..n).map(|i| ((i * 7919) % 101) as f32 * 0.05).collect()
}

#[test]
fn state_export_import_reproduces_picks() {
    let logits = test_logits(500);
    for mirostat in [0u8, 1, 2] {
        let s = SamplerSettings {
            seed: 11,
            mirostat,
            repeat_penalty: 1.3,
            frequency_penalty: 0.1,
            top_k: 0,
            ..Default::default()
        };
        let mut a = Sampler::new(s.clone(), logits.len(), &[], None).unwrap();
        gen(&mut a, &logits, 40);
        let st = a.export_state();
        assert_eq!(st.recent_tokens.len(), 40);
        if mirostat > 0 {
            assert!(st.mirostat_mu.is_some());
        }
        let json = serde_json::to_string(&st).unwrap();
        let cont_a = gen(&mut a, &logits, 60);

        let other = SamplerSettings {
            seed: 999,
            ..s.clone()
        };
        let mut b = Sampler::new(other, logits.len(), &[], None).unwrap();
        b.import_state(&serde_json::from_str(&json).unwrap());
        let cont_b = gen(&mut b, &logits, 60);
        assert_eq!(cont_a, cont_b, "mirostat {mirostat}");
    }
}

#[test]
fn same_seed_same_output_in_any_thread() {
    let logits = test_logits(1000);
    let s = SamplerSettings {
        seed: 5,
        ..Default::default()
    };
    let reference = gen(
        &mut Sampler::new(s.clone(), 1000, &[], None).unwrap(),
        &logits,
        50,
    );
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (s, l) = (s.clone(), logits.clone());
            std::thread::spawn(move || gen(&mut Sampler::new(s, 1000, &[], None).unwrap(), &l, 50))
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), reference);
    }
    let s2 = SamplerSettings { seed: 6, ..s };
    assert_ne!(
        gen(&mut Sampler::new(s2, 1000, &[], None).unwrap(), &logits, 50),
        reference
    );
}

#[test]
fn update_settings_keeps_rng_and_window() {
    let logits = test_logits(300);
    let s = SamplerSettings {
        seed: 3,
        repeat_penalty: 1.2,
        ..Default::default()
    };
    let mut a = Sampler::new(s.clone(), 300, &[], None).unwrap();
    let mut b = Sampler::new(s.clone(), 300, &[], None).unwrap();
    let mut ra = gen(&mut a, &logits, 20);
    a.update_settings(s.clone()).unwrap();
    ra.extend(gen(&mut a, &logits, 20));
    let mut rb = gen(&mut b, &logits, 20);
    rb.extend(gen(&mut b, &logits, 20));
    assert_eq!(ra, rb);
    assert_eq!(a.export_state(), b.export_state());

    // a real change takes effect at the next token, window survives
    a.update_settings(SamplerSettings {
        temp: 0.0,
        ..s.clone()
    })
    .unwrap();
    assert_eq!(a.chain_names().last(), Some(&"greedy"));
    assert_eq!(a.export_state().recent_tokens.len(), 40);
    // changing the seed reseeds
    let mut c = Sampler::new(s.clone(), 300, &[], None).unwrap();
    gen(&mut c, &logits, 5);
    c.update_settings(SamplerSettings {
        seed: 77,
        ..s.clone()
    })
    .unwrap();
    let mut d = Sampler::new(
        SamplerSettings {
            seed: 77,
            ..s.clone()
        },
        300,
        &[],
        None,
    )
    .unwrap();
    assert_eq!(c.export_state().rng, d.export_state().rng);
    // shrinking the window trims it
    a.update_settings(SamplerSettings {
        repeat_last_n: 8,
        ..s
    })
    .unwrap();
    assert_eq!(a.export_state().recent_tokens.len(), 8);
    // invalid settings are refused and the old ones stay
    assert!(d
        .update_settings(SamplerSettings {
            top_p: 2.0,
            ..Default::default()
        })
        .is_err());
    assert_eq!(d.settings().seed, 77);
}

#[test]
fn reset_replays_from_seed() {
    let logits = test_logits(200);
    let s = SamplerSettings {
        seed: 21,
        repeat_penalty: 1.5,
        ..Default::default()
    };
    let mut a = Sampler::new(s, 200, &[], None).unwrap();
    let first = gen(&mut a, &logits, 30);
    a.reset();
    assert!(a.export_state().recent_tokens.is_empty());
    assert_eq!(gen(&mut a, &logits, 30), first);
}

#[test]
fn greedy_bias_eos_and_newline() {
    let logits = [1.0f32, 5.0, 3.0, 4.9];
    let greedy = preset("greedy").unwrap();
    let mut s = Sampler::new(greedy.clone(), 4, &[1], None).unwrap();
    assert_eq!(s.sample(&logits), 1);
    // ignore_eos bans token 1
    let mut s = Sampler::new(
        SamplerSettings {
            ignore_eos: true,
            ..greedy.clone()
        },
        4,
        &[1],
        None,
    )
    .unwrap();
    assert_eq!(s.sample(&logits), 3);
    // logit bias
    let lb = vec![LogitBias {
        token: 0,
        bias: 10.0,
    }];
    let mut s = Sampler::new(
        SamplerSettings {
            logit_bias: lb,
            ..greedy.clone()
        },
        4,
        &[],
        None,
    )
    .unwrap();
    assert_eq!(s.sample(&logits), 0);
    // out-of-vocab bias is an error
    let lb = vec![LogitBias {
        token: 9,
        bias: 1.0,
    }];
    assert!(Sampler::new(
        SamplerSettings {
            logit_bias: lb,
            ..greedy.clone()
        },
        4,
        &[],
        None
    )
    .is_err());
    // repetition penalty flips the choice, except for the newline token
    let pen = SamplerSettings {
        repeat_penalty: 2.0,
        ..greedy
    };
    let mut s = Sampler::new(pen.clone(), 4, &[], Some(1)).unwrap();
    s.accept(1);
    assert_eq!(s.sample(&logits), 1, "newline not penalized by default");
    let mut s = Sampler::new(
        SamplerSettings {
            penalize_nl: true,
            ..pen
        },
        4,
        &[],
        Some(1),
    )
    .unwrap();
    s.accept(1);
    assert_eq!(s.sample(&logits), 3);
}

#[test]
fn chain_layout_follows_settings() {
    let names = |s: SamplerSettings| Sampler::new(s, 10, &[], None).unwrap().chain_names();
    assert_eq!(
        names(SamplerSettings::default()),
        vec![
            "logit-bias",
            "penalties",
            "top-k",
            "tail-free",
            "typical",
            "top-p",
            "min-p",
            "temperature",
            "dist"
        ]
    );
    assert_eq!(
        names(SamplerSettings {
            samplers: "mk".into(),
            ..Default::default()
        }),
        vec!["logit-bias", "penalties", "min-p", "top-k", "dist"]
    );
    assert_eq!(
        names(SamplerSettings {
            mirostat: 1,
            ..Default::default()
        }),
        vec!["logit-bias", "penalties", "temperature", "mirostat",]
    );
    assert_eq!(
        names(SamplerSettings {
            mirostat: 2,
            ..Default::default()
        }),
        vec!["logit-bias", "penalties", "temperature", "mirostat-v2"]
    );
    assert_eq!(
        names(SamplerSettings {
            temp: 0.0,
            ..Default::default()
        }),
        vec!["logit-bias", "penalties", "greedy"]
    );
}

#[test]
fn degenerate_logits() {
    for logits in [
        vec![0.5f32],
        vec![2.0; 16],
        vec![f32::NEG_INFINITY; 8],
        vec![f32::NAN, 1.0, f32::NAN],
    ] {
        for preset_name in preset_names() {
            let s = SamplerSettings {
                seed: 1,
                ..preset(preset_name).unwrap()
            };
            let mut smp = Sampler::new(s, logits.len(), &[], None).unwrap();
            for _ in 0..5 {
                let t = smp.sample(&logits);
                assert!((t as usize) < logits.len());
                if logits.iter().any(|x| x.is_finite()) {
                    assert!(
                        logits[t as usize].is_finite(),
                        "{preset_name}: {logits:?} -> {t}"
                    );
                }
                smp.accept(t);
            }
        }
    }
}

#[test]
fn full_vocab_top_k_disabled_matches_reference_set() {
    // 49,152 logits, top_k = 0: top-p/min-p run on the unsorted list.
    let n = 49_152;
    let logits: Vec<f32> = (0..n)
        .map(|i| (((i as u64 * 2654435761) % 10007) as f32 / 10007.0) * 14.0 - 7.0)
        .collect();
    let s = SamplerSettings {
        top_k: 0,
        seed: 1,
        ..Default::default()
    };
    let mut smp = Sampler::new(s, n, &[], None).unwrap();
    let tok = smp.sample(&logits);
    let kept = smp.candidates().len();
    // reference: sort, softmax, top-p 0.95, min-p 0.05, temperature keeps set
    let r = ref_sorted_probs(&logits);
    let mut cum = 0.0f64;
    let mut m = r.len();
    for (i, x) in r.iter().enumerate() {
        cum += x.1 as f64;
        if cum >= 0.95 {
            m = i + 1;
            break;
        }
    }
    let thr = r[0].0 + 0.05f32.ln();
    let m2 = r[..m].iter().filter(|x| x.0 >= thr).count();
    assert_eq!(kept, m2);
    assert!(logits[tok as usize] >= thr);
}
