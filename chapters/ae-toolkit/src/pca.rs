//! Principal component analysis with nalgebra: used to draw high-dimensional codes in 2-D and as
//! the linear baseline autoencoders are compared with.

use nalgebra::{DMatrix, SymmetricEigen};

/// The mean and the top principal directions of a set of points.
///
/// ```
/// use ae_toolkit::pca::Pca;
/// // Spread 10 along x, 2 along y, nothing along z.
/// let pts: Vec<f32> = (0..50).flat_map(|i| [(i % 10) as f32, (i % 2) as f32 * 2.0, 1.0]).collect();
/// let pca = Pca::fit(&pts, 3, 3);
/// assert!(pca.variances[0] > pca.variances[1] && pca.variances[1] > pca.variances[2]);
/// assert!(pca.variances[2].abs() < 1e-9);
/// for c in &pca.components {
///     assert!((c.iter().map(|v| v * v).sum::<f64>() - 1.0).abs() < 1e-9); // unit length
/// }
/// // The fields mean what they say: a hand-made projection onto the x axis around (1, 1).
/// let by_hand = Pca { mean: vec![1.0, 1.0], components: vec![vec![1.0, 0.0]], variances: vec![4.0] };
/// assert_eq!(by_hand.project(&[3.0, 5.0, 0.0, 1.0]), vec![vec![2.0], vec![-1.0]]);
/// ```
#[derive(Clone, Debug)]
pub struct Pca {
    /// Mean of the points, one value per dimension.
    pub mean: Vec<f64>,
    /// `k` unit-length principal directions, largest variance first.
    pub components: Vec<Vec<f64>>,
    /// Variance of the points along each direction.
    pub variances: Vec<f64>,
}

impl Pca {
    /// Fits `k` components to `points` (`n` rows of `dim` values, row-major).
    ///
    /// ```
    /// // Points on the line y = 2x: one direction carries all the variance.
    /// let pts = [0.0f32, 0.0, 1.0, 2.0, 2.0, 4.0, 3.0, 6.0];
    /// let pca = ae_toolkit::pca::Pca::fit(&pts, 2, 1);
    /// let c = &pca.components[0];
    /// assert!((c[1] / c[0] - 2.0).abs() < 1e-9);
    /// assert_eq!(pca.mean, vec![1.5, 3.0]);
    /// ```
    pub fn fit(points: &[f32], dim: usize, k: usize) -> Pca {
        assert!(
            dim > 0 && points.len().is_multiple_of(dim),
            "points must be rows of {dim} values"
        );
        assert!(
            k <= dim,
            "cannot take {k} components of {dim}-dimensional points"
        );
        let n = points.len() / dim;
        let x = DMatrix::from_row_iterator(n, dim, points.iter().map(|&v| v as f64));
        let mean: Vec<f64> = (0..dim).map(|j| x.column(j).mean()).collect();
        let centred = DMatrix::from_fn(n, dim, |i, j| x[(i, j)] - mean[j]);
        let cov = centred.transpose() * &centred / (n.max(2) - 1) as f64;
        let eig = SymmetricEigen::new(cov);
        let mut order: Vec<usize> = (0..dim).collect();
        order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
        let components = order[..k]
            .iter()
            .map(|&c| eig.eigenvectors.column(c).iter().copied().collect())
            .collect();
        let variances = order[..k].iter().map(|&c| eig.eigenvalues[c]).collect();
        Pca {
            mean,
            components,
            variances,
        }
    }

    /// Coordinates of each point along the components.
    ///
    /// ```
    /// let pts = [1.0f32, 0.0, -1.0, 0.0, 0.0, 0.1, 0.0, -0.1];
    /// let pca = ae_toolkit::pca::Pca::fit(&pts, 2, 1);
    /// let proj = pca.project(&pts);
    /// assert!((proj[0][0].abs() - 1.0).abs() < 1e-9);
    /// ```
    pub fn project(&self, points: &[f32]) -> Vec<Vec<f64>> {
        let dim = self.mean.len();
        points
            .chunks(dim)
            .map(|p| {
                self.components
                    .iter()
                    .map(|c| {
                        c.iter()
                            .zip(p)
                            .zip(&self.mean)
                            .map(|((c, &v), m)| c * (v as f64 - m))
                            .sum()
                    })
                    .collect()
            })
            .collect()
    }

    /// Reconstructions of `points` from their first `k` coordinates, `mean + Σⱼ pⱼ cⱼ`, row-major:
    /// the best rank-`k` affine approximation in squared error (Eckart–Young), the baseline every
    /// autoencoder with a `k`-dimensional code is compared with. Panics if `k` exceeds the
    /// number of fitted components.
    ///
    /// ```
    /// // Points on the line y = 2x are rebuilt exactly from one coordinate …
    /// let pts = [0.0f32, 0.0, 1.0, 2.0, 2.0, 4.0];
    /// let pca = ae_toolkit::pca::Pca::fit(&pts, 2, 2);
    /// let back = pca.reconstruct(&pts, 1);
    /// assert!(back.iter().zip(&pts).all(|(b, &p)| (b - p as f64).abs() < 1e-9));
    /// // … and from none, every point becomes the mean.
    /// assert_eq!(pca.reconstruct(&pts, 0), vec![1.0, 2.0, 1.0, 2.0, 1.0, 2.0]);
    /// ```
    pub fn reconstruct(&self, points: &[f32], k: usize) -> Vec<f64> {
        assert!(
            k <= self.components.len(),
            "asked for {k} components of a PCA fitted with {}",
            self.components.len()
        );
        let dim = self.mean.len();
        let mut out = Vec::with_capacity(points.len());
        for p in points.chunks(dim) {
            let mut x = self.mean.clone();
            for c in &self.components[..k] {
                let coord: f64 = c
                    .iter()
                    .zip(p)
                    .zip(&self.mean)
                    .map(|((c, &v), m)| c * (v as f64 - m))
                    .sum();
                x.iter_mut().zip(c).for_each(|(x, c)| *x += coord * c);
            }
            out.extend(x);
        }
        out
    }
}
