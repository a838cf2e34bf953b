//! A small logistic regression: how the relevance model and the answer
//! support check are fitted from labelled examples (`paperbot eval
//! --calibrate`). Gradient descent on standardised features with both
//! classes weighted equally and a little L2; a few thousand rows of a few
//! features fit in milliseconds.

/// Fitted weights for raw (unstandardised) features.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    pub bias: f64,
    pub weights: Vec<f64>,
}

impl Fit {
    pub fn probability(&self, x: &[f64]) -> f64 {
        sigmoid(self.bias + self.weights.iter().zip(x).map(|(w, x)| w * x).sum::<f64>())
    }
}

pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Fits `rows` of (features, label). Every row must have the same length.
pub fn fit(rows: &[(Vec<f64>, bool)]) -> Fit {
    const STEPS: usize = 4_000;
    const RATE: f64 = 0.5;
    const L2: f64 = 1e-3;
    let d = rows.first().map_or(0, |r| r.0.len());
    let n = rows.len().max(1) as f64;
    let mut mean = vec![0.0; d];
    let mut sd = vec![0.0; d];
    for j in 0..d {
        mean[j] = rows.iter().map(|r| r.0[j]).sum::<f64>() / n;
        sd[j] = (rows.iter().map(|r| (r.0[j] - mean[j]).powi(2)).sum::<f64>() / n)
            .sqrt()
            .max(1e-6);
    }
    let zs: Vec<Vec<f64>> = rows
        .iter()
        .map(|r| (0..d).map(|j| (r.0[j] - mean[j]) / sd[j]).collect())
        .collect();
    let positives = rows.iter().filter(|r| r.1).count().max(1) as f64;
    let negatives = (rows.len() as f64 - positives).max(1.0);
    let weight = |y: bool| {
        if y {
            n / (2.0 * positives)
        } else {
            n / (2.0 * negatives)
        }
    };
    let (mut b, mut w) = (0.0f64, vec![0.0f64; d]);
    for _ in 0..STEPS {
        let (mut gb, mut gw) = (0.0, vec![0.0; d]);
        for (z, (_, y)) in zs.iter().zip(rows) {
            let p = sigmoid(b + (0..d).map(|j| w[j] * z[j]).sum::<f64>());
            let err = (p - if *y { 1.0 } else { 0.0 }) * weight(*y);
            gb += err;
            for j in 0..d {
                gw[j] += err * z[j];
            }
        }
        b -= RATE * gb / n;
        for j in 0..d {
            w[j] -= RATE * (gw[j] / n + L2 * w[j]);
        }
    }
    // Back to raw features: w·(x − m)/s + b = (w/s)·x + (b − Σ w m / s).
    Fit {
        bias: b - (0..d).map(|j| w[j] * mean[j] / sd[j]).sum::<f64>(),
        weights: (0..d).map(|j| w[j] / sd[j]).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_separable_classes_on_raw_features() {
        let rows: Vec<(Vec<f64>, bool)> = (0..40)
            .flat_map(|i| {
                let t = i as f64 / 40.0;
                [
                    (vec![0.6 + 0.3 * t, 5.0 + t], true),
                    (vec![0.1 + 0.3 * t, 5.0 + t], false),
                ]
            })
            .collect();
        let f = fit(&rows);
        assert!(rows.iter().all(|(x, y)| (f.probability(x) >= 0.5) == *y), "{f:?}");
        assert!(f.weights[0] > 0.0);
        assert!(
            f.weights[1].abs() < f.weights[0].abs(),
            "an uninformative feature weighs little: {f:?}"
        );
    }
}
