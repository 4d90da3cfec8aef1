//! `exp` and `ln` for the elementwise CPU kernels (a patch of the Autoencoders-in-Rust book,
//! see its vendor/README.md).
//!
//! For `f32` these are branch-free polynomial kernels (the Cephes `expf`/`logf` polynomials) that
//! the compiler vectorises when they run inside a loop over a buffer; libm's `expf`/`logf` are
//! calls, so a loop over them stays scalar. Every other dtype keeps `num_traits::Float`'s
//! functions. Special values behave as libm's: NaN stays NaN, `exp(-inf) = 0`,
//! `exp(x) = inf` above ≈ 88.72, `ln(0) = -inf`, `ln(x < 0) = NaN`, `ln(inf) = inf`.
//! Results of `exp` below `f32::MIN_POSITIVE` (x < -87.34) are flushed to 0.

use num_traits::Float;

/// `exp` and `ln` as the CPU kernels compute them.
pub trait VectorMath: Float {
    #[inline(always)]
    fn vexp(self) -> Self {
        self.exp()
    }
    #[inline(always)]
    fn vln(self) -> Self {
        self.ln()
    }
}

impl VectorMath for f64 {}

#[cfg(feature = "f16")]
impl VectorMath for crate::dtypes::f16 {}

#[cfg(feature = "f16")]
impl VectorMath for crate::dtypes::AMP<crate::dtypes::f16> {}

const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;

impl VectorMath for f32 {
    #[inline(always)]
    fn vexp(self) -> f32 {
        let x = self;
        // Below this exp(x) < f32::MIN_POSITIVE: flushed to 0; above the other, inf.
        const LO: f32 = -87.336_54;
        const HI: f32 = 88.722_83;
        let xc = x.max(LO).min(HI);
        // n = round(x / ln 2) without `round` (a libm call before SSE4.1): truncate x/ln2 + 0.5,
        // then correct the truncation of negative values down to the floor.
        let fx = xc * core::f32::consts::LOG2_E + 0.5;
        let t = fx as i32;
        let n = t - ((t as f32) > fx) as i32;
        let nf = n as f32;
        let r = xc - nf * LN2_HI - nf * LN2_LO;
        let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r
            + 4.166_579_6e-2)
            * r
            + 1.666_666_5e-1)
            * r
            + 5.000_000_1e-1;
        let p = p * r * r + r + 1.0;
        // 2^n for n in [-126, 128]: n = 128 only when x is at HI, where the product overflows
        // to inf as it should; scale in two halves so the exponent field never overflows.
        let half = n >> 1;
        let s1 = f32::from_bits(((half + 127) as u32) << 23);
        let s2 = f32::from_bits(((n - half + 127) as u32) << 23);
        let y = p * s1 * s2;
        let y = if x < LO { 0.0 } else { y };
        let y = if x > HI { f32::INFINITY } else { y };
        if x.is_nan() {
            x
        } else {
            y
        }
    }

    #[inline(always)]
    fn vln(self) -> f32 {
        let x = self;
        // Subnormal inputs: scale by 2^23 first and take 23·ln 2 off at the end.
        let small = x < f32::MIN_POSITIVE;
        let xs = if small { x * 8_388_608.0 } else { x };
        let bits = xs.to_bits();
        let mut e = ((bits >> 23) & 0xff) as i32 - 126;
        // Mantissa in [0.5, 1).
        let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000);
        let below = m < core::f32::consts::FRAC_1_SQRT_2;
        e -= below as i32;
        let m = if below { m + m - 1.0 } else { m - 1.0 };
        let z = m * m;
        let mut y = ((((((((7.037_683_6e-2 * m - 1.151_461e-1) * m + 1.167_699_9e-1) * m
            - 1.242_014_1e-1)
            * m
            + 1.424_932_3e-1)
            * m
            - 1.666_805_8e-1)
            * m
            + 2.000_071_4e-1)
            * m
            - 2.499_999_4e-1)
            * m
            + 3.333_333e-1)
            * m
            * z;
        let ef = e as f32 - if small { 23.0 } else { 0.0 };
        y += LN2_LO * ef;
        y += -0.5 * z;
        let r = m + y + LN2_HI * ef;
        let r = if x == f32::INFINITY { x } else { r };
        let r = if x == 0.0 { f32::NEG_INFINITY } else { r };
        if x < 0.0 || x.is_nan() {
            f32::NAN
        } else {
            r
        }
    }
}
