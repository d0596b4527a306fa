//! Classifier-free guidance math (the engine runs the negative context).

fn log_softmax_in_place(v: &mut [f32]) {
    let max = v
        .iter()
        .fold(f32::NEG_INFINITY, |m, &x| if x > m { x } else { m });
    if !max.is_finite() {
        return;
    }
    let sum: f64 = v.iter().map(|&x| ((x - max) as f64).exp()).sum();
    let log_sum = sum.ln() as f32;
    for x in v.iter_mut() {
        *x = *x - max - log_sum;
    }
}

/// `logits <- neg + scale * (pos - neg)` on the log-softmax of both
/// (each shifted by its max first). `scale == 1` returns the positive
/// log-softmax exactly. Tokens masked (-inf) in the positive logits stay
/// masked; where only the negative logit is -inf the positive value is used.
pub fn apply_guidance(logits: &mut [f32], negative: &[f32], scale: f32) {
    assert_eq!(
        logits.len(),
        negative.len(),
        "guidance: positive and negative logits differ in length"
    );
    log_softmax_in_place(logits);
    if scale == 1.0 {
        return;
    }
    let mut neg_max = f32::NEG_INFINITY;
    for &x in negative {
        if x > neg_max {
            neg_max = x;
        }
    }
    if !neg_max.is_finite() {
        return;
    }
    let sum: f64 = negative.iter().map(|&x| ((x - neg_max) as f64).exp()).sum();
    let shift = neg_max + sum.ln() as f32;
    for (l, &n) in logits.iter_mut().zip(negative) {
        let neg = n - shift;
        if *l == f32::NEG_INFINITY || !neg.is_finite() {
            continue;
        }
        *l = neg + scale * (*l - neg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lsm(v: &[f32]) -> Vec<f32> {
        let m = v.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let s: f32 = v.iter().map(|x| (x - m).exp()).sum();
        v.iter().map(|x| x - m - s.ln()).collect()
    }

    fn argmax(v: &[f32]) -> usize {
        (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap()
    }

    #[test]
    fn scale_one_is_positive_log_softmax() {
        let pos = vec![1.0, 3.0, 2.0, -1.0];
        let neg = vec![5.0, 0.0, 1.0, 2.0];
        let mut l = pos.clone();
        apply_guidance(&mut l, &neg, 1.0);
        let e = lsm(&pos);
        for (a, b) in l.iter().zip(&e) {
            assert!((a - b).abs() < 1e-6);
        }
        assert_eq!(argmax(&l), argmax(&pos));
        let total: f32 = l.iter().map(|x| x.exp()).sum();
        assert!((total - 1.0).abs() < 1e-5);
    }

    #[test]
    fn formula_and_shift_invariance() {
        let pos = vec![1.0f32, 3.0, 2.0];
        let neg = vec![0.0f32, 3.0, 0.0];
        for scale in [0.0f32, 0.5, 1.5, 3.0] {
            let mut l = pos.clone();
            apply_guidance(&mut l, &neg, scale);
            let (lp, ln) = (lsm(&pos), lsm(&neg));
            for i in 0..3 {
                let e = ln[i] + scale * (lp[i] - ln[i]);
                assert!((l[i] - e).abs() < 1e-5, "scale {scale}");
            }
            // adding a constant to either input changes nothing
            let mut l2: Vec<f32> = pos.iter().map(|x| x + 100.0).collect();
            let neg2: Vec<f32> = neg.iter().map(|x| x - 50.0).collect();
            apply_guidance(&mut l2, &neg2, scale);
            for i in 0..3 {
                assert!((l[i] - l2[i]).abs() < 1e-4);
            }
        }
        // scale 0 returns the negative log-softmax
        let mut l = pos.clone();
        apply_guidance(&mut l, &neg, 0.0);
        assert_eq!(argmax(&l), 1);
        // strong guidance pushes away from what the negative prompt likes
        let mut l = pos.clone();
        apply_guidance(&mut l, &neg, 3.0);
        assert_eq!(argmax(&l), 2);
    }

    #[test]
    fn masked_tokens() {
        let mut l = vec![0.0, f32::NEG_INFINITY, 1.0];
        apply_guidance(&mut l, &[f32::NEG_INFINITY, 0.0, 0.0], 2.0);
        assert!(l.iter().all(|x| !x.is_nan()));
        assert_eq!(l[1], f32::NEG_INFINITY);
        assert!(l[0].is_finite());
    }
}
