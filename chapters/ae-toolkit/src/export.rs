//! Trained weights for the book's in-page widgets: a small [safetensors] writer (an 8-byte
//! little-endian header length, a JSON header naming each tensor's dtype, shape and byte range,
//! then the raw little-endian data) that can store `f32` values as IEEE half precision (`F16`)
//! to halve the download, and the conversion between the two.
//!
//! A model's tensors are named by their place in the dfdx tuple, as dfdx's own
//! `save_safetensors` names them (`0.weight` is the first layer's weight, of shape `(out, in)`),
//! after a prefix of the caller's choice.
//!
//! ```
//! use ae_toolkit::dfdx::prelude::*;
//! use ae_toolkit::export::{Dtype, SafeTensors};
//! let dev = Cpu::seed_from_u64(0);
//! let decoder = dev.build_module::<(Linear<2, 8>, ReLU, Linear<8, 4>), f32>();
//! let mut file = SafeTensors::default();
//! file.add_module("decoder.", &decoder, Dtype::F16);
//! file.add("labels", &[3], &[1.0, 7.0, 2.0], Dtype::U8);
//! let bytes = file.to_bytes();
//! let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
//! let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
//! assert_eq!(header["decoder.0.weight"]["shape"], serde_json::json!([8, 2]));
//! assert_eq!(header["decoder.2.bias"]["dtype"], "F16");
//! assert_eq!(header["labels"]["data_offsets"][1].as_u64().unwrap() as usize, bytes.len() - 8 - header_len);
//! ```
//!
//! [safetensors]: https://github.com/huggingface/safetensors#format

use std::collections::BTreeMap;
use std::path::Path;

use dfdx::nn::tensor_collection::{
    RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorMut, ViewTensorName,
    ViewTensorRef,
};
use dfdx::prelude::*;

/// How a tensor's values are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    /// IEEE 754 half precision (11 significant bits: relative rounding error at most 2⁻¹¹).
    F16,
    /// IEEE 754 single precision, exactly as computed.
    F32,
    /// Bytes; values are rounded and clamped to `0..=255` (labels, 8-bit images).
    U8,
}

impl Dtype {
    fn name(self) -> &'static str {
        match self {
            Dtype::F16 => "F16",
            Dtype::F32 => "F32",
            Dtype::U8 => "U8",
        }
    }
}

/// Tensors to be written as one safetensors file, in the order they were added.
#[derive(Clone, Debug, Default)]
pub struct SafeTensors {
    tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)>,
    metadata: BTreeMap<String, String>,
}

impl SafeTensors {
    /// Adds `values` (row-major, of `shape`) as tensor `name`, stored as `dtype`.
    ///
    /// Panics if the shape does not hold exactly `values.len()` elements or the name is taken.
    pub fn add(&mut self, name: &str, shape: &[usize], values: &[f32], dtype: Dtype) {
        assert_eq!(
            shape.iter().product::<usize>(),
            values.len(),
            "tensor {name}: shape {shape:?} does not match {} values",
            values.len()
        );
        assert!(
            self.tensors.iter().all(|t| t.0 != name),
            "tensor {name} added twice"
        );
        let bytes = match dtype {
            Dtype::F16 => values
                .iter()
                .flat_map(|&v| f32_to_f16(v).to_le_bytes())
                .collect(),
            Dtype::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Dtype::U8 => values
                .iter()
                .map(|v| v.round().clamp(0.0, 255.0) as u8)
                .collect(),
        };
        self.tensors
            .push((name.to_string(), dtype, shape.to_vec(), bytes));
    }

    /// Adds every tensor of `module` as `prefix` + its dfdx path (`0.weight`, `2.bias`, …).
    pub fn add_module<M: TensorCollection<f32, D>, D: Device<f32>>(
        &mut self,
        prefix: &str,
        module: &M,
        dtype: Dtype,
    ) {
        for (name, shape, values) in module_tensors(module) {
            self.add(&format!("{prefix}{name}"), &shape, &values, dtype);
        }
    }

    /// Sets a free-text entry of the header's `__metadata__` (what the file holds, where from).
    pub fn metadata(&mut self, key: &str, value: impl Into<String>) {
        self.metadata.insert(key.to_string(), value.into());
    }

    /// The file's bytes. The header is padded with spaces to a multiple of 8 bytes, as the
    /// reference implementation does, so the data starts aligned.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut header = serde_json::Map::new();
        if !self.metadata.is_empty() {
            header.insert("__metadata__".into(), serde_json::json!(self.metadata));
        }
        let mut offset = 0;
        for (name, dtype, shape, bytes) in &self.tensors {
            header.insert(
                name.clone(),
                serde_json::json!({
                    "dtype": dtype.name(),
                    "shape": shape,
                    "data_offsets": [offset, offset + bytes.len()],
                }),
            );
            offset += bytes.len();
        }
        let mut json = serde_json::to_vec(&header).expect("a JSON map always serialises");
        while !json.len().is_multiple_of(8) {
            json.push(b' ');
        }
        let mut out = Vec::with_capacity(8 + json.len() + offset);
        out.extend((json.len() as u64).to_le_bytes());
        out.extend(json);
        for (_, _, _, bytes) in &self.tensors {
            out.extend(bytes);
        }
        out
    }

    /// Writes the file atomically (see [`crate::atomic`]); returns its size in bytes.
    pub fn write(&self, path: &Path) -> anyhow::Result<usize> {
        let bytes = self.to_bytes();
        crate::atomic::write(path, &bytes)?;
        Ok(bytes.len())
    }
}

/// The largest absolute difference between two equally long slices (0 for empty ones).
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "comparing slices of different lengths");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The one-row Markdown table a page includes under a widget: which file, what it holds, its
/// size, and how far rounding the weights to half precision moves the model's outputs.
pub fn weights_table(
    file: &str,
    holds: &str,
    bytes: usize,
    f16_error: f32,
    measured_on: &str,
) -> String {
    crate::report::markdown_table(
        &[
            "weights · 权重文件",
            "holds · 内容",
            "size · 大小",
            "f16 rounding: largest change of an output · f16 舍入造成的最大输出变化",
        ],
        &[vec![
            format!("`{file}`"),
            holds.to_string(),
            format!("{:.2} MB ({bytes} bytes)", bytes as f64 / 1e6),
            format!("{f16_error:.4} ({measured_on})"),
        ]],
    )
}

/// Every tensor of `module` as (dfdx path, shape, row-major values).
pub fn module_tensors<M: TensorCollection<f32, D>, D: Device<f32>>(
    module: &M,
) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    struct Collect(Vec<(String, Vec<usize>, Vec<f32>)>);
    impl<D: Device<f32>> TensorVisitor<f32, D> for Collect {
        type Viewer = (ViewTensorRef, ViewTensorName);
        type Err = D::Err;
        type E2 = f32;
        type D2 = D;
        fn visit<S: Shape>(
            &mut self,
            _: TensorOptions<S, f32, D>,
            (t, name): (&Tensor<S, f32, D>, String),
        ) -> Result<Option<Tensor<S, f32, D>>, D::Err> {
            self.0.push((name, t.shape().concrete().into(), t.as_vec()));
            Ok(None)
        }
    }
    let mut collect = Collect(Vec::new());
    M::iter_tensors(&mut RecursiveWalker {
        m: (module, String::new()),
        f: &mut collect,
    })
    .unwrap_or_else(|_| panic!("reading a module's tensors cannot fail"));
    collect.0
}

/// Every tensor of `module` as (dfdx path, the bit patterns of its values): what two runs are
/// compared by when they must end with bitwise-equal weights (`==` on `f32` would call −0 and
/// +0 equal and a NaN unequal to itself).
///
/// ```
/// use ae_toolkit::export::module_bits;
/// use dfdx::prelude::*;
/// let dev = Cpu::seed_from_u64(0);
/// let model = dev.build_module::<Linear<2, 1>, f32>();
/// let bits = module_bits(&model);
/// assert_eq!(bits[0], ("weight".to_string(), model.weight.as_vec().iter().map(|w| w.to_bits()).collect()));
/// assert_eq!(bits, module_bits(&model.clone()));
/// ```
pub fn module_bits<M: TensorCollection<f32, D>, D: Device<f32>>(
    module: &M,
) -> Vec<(String, Vec<u32>)> {
    module_tensors(module)
        .into_iter()
        .map(|(name, _, values)| (name, values.iter().map(|v| v.to_bits()).collect()))
        .collect()
}

/// Rounds every tensor of `module` to the nearest half-precision value, in place: the model the
/// page runs from an `F16` file, for measuring what the rounding costs.
pub fn round_to_f16<M: TensorCollection<f32, D>, D: Device<f32>>(module: &mut M) {
    struct Round;
    impl<D: Device<f32>> TensorVisitor<f32, D> for Round {
        type Viewer = ViewTensorMut;
        type Err = D::Err;
        type E2 = f32;
        type D2 = D;
        fn visit<S: Shape>(
            &mut self,
            _: TensorOptions<S, f32, D>,
            t: &mut Tensor<S, f32, D>,
        ) -> Result<Option<Tensor<S, f32, D>>, D::Err> {
            let rounded: Vec<f32> = t
                .as_vec()
                .iter()
                .map(|&v| f16_to_f32(f32_to_f16(v)))
                .collect();
            t.copy_from(&rounded);
            Ok(None)
        }
    }
    M::iter_tensors(&mut RecursiveWalker {
        m: module,
        f: &mut Round,
    })
    .unwrap_or_else(|_| panic!("rounding a module's tensors cannot fail"));
}

/// The half-precision value nearest to `x` (ties to even), as its bit pattern. Values beyond
/// the largest half (65504) become infinities, NaN stays NaN, tiny values become subnormals or
/// zero.
///
/// ```
/// use ae_toolkit::export::{f16_to_f32, f32_to_f16};
/// assert_eq!(f32_to_f16(1.0), 0x3c00);
/// assert_eq!(f32_to_f16(-2.0), 0xc000);
/// assert_eq!(f32_to_f16(65504.0), 0x7bff);
/// assert_eq!(f32_to_f16(1e6), 0x7c00); // +∞
/// assert_eq!(f16_to_f32(f32_to_f16(0.1)), 0.099975586); // 11 significant bits
/// assert_eq!(f32_to_f16(2f32.powi(-24)), 0x0001); // the smallest subnormal
/// ```
pub fn f32_to_f16(x: f32) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32;
    let mant = bits & 0x7f_ffff;
    if exp == 0xff {
        // Infinity or NaN (keep a quiet NaN).
        return sign | 0x7c00 | if mant != 0 { 0x200 } else { 0 };
    }
    let e = exp - 127 + 15; // the half-precision biased exponent
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        // Subnormal half (or zero): value = m · 2⁻²⁴ with m = round(|x| · 2²⁴).
        if e < -10 {
            return sign;
        }
        let m = mant | 0x80_0000; // the implicit leading 1
        let shift = (14 - e) as u32; // 24-bit significand down to the subnormal grid
        return sign | round_shift(m, shift) as u16;
    }
    // Normal: 10 mantissa bits, rounding may carry into the exponent (and up to infinity).
    let rounded = ((e as u32) << 10) + round_shift(mant, 13);
    sign | rounded.min(0x7c00) as u16
}

/// `v >> shift`, rounded to nearest with ties to even.
fn round_shift(v: u32, shift: u32) -> u32 {
    let kept = v >> shift;
    let rest = v & ((1 << shift) - 1);
    let half = 1 << (shift - 1);
    if rest > half || (rest == half && kept & 1 == 1) {
        kept + 1
    } else {
        kept
    }
}

/// The value of the half-precision bit pattern `h` (exact: every half is an `f32`).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let mant = (h & 0x3ff) as f32;
    match exp {
        0 => sign * mant * 2f32.powi(-24),
        0x1f if mant == 0.0 => sign * f32::INFINITY,
        0x1f => f32::NAN,
        _ => sign * (1.0 + mant / 1024.0) * 2f32.powi(exp - 15),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_half_survives_the_round_trip_and_lies_nearest() {
        for h in 0..=u16::MAX {
            let v = f16_to_f32(h);
            if v.is_nan() {
                assert!(f16_to_f32(f32_to_f16(v)).is_nan());
                continue;
            }
            assert_eq!(f32_to_f16(v), h, "{h:#06x} = {v}");
        }
        // Halfway between two halves rounds to the even one; just above rounds up.
        let one_and_half_ulp = 1.0 + 2f32.powi(-11);
        assert_eq!(f32_to_f16(one_and_half_ulp), 0x3c00);
        assert_eq!(f32_to_f16(1.0 + 3.0 * 2f32.powi(-11)), 0x3c02);
        assert_eq!(
            f32_to_f16(f32::from_bits(one_and_half_ulp.to_bits() + 1)),
            0x3c01
        );
        // Relative error of normal values at most 2⁻¹¹.
        let mut x = 6.2e-5f32;
        while x < 6.0e4 {
            let r = f16_to_f32(f32_to_f16(x));
            assert!(((r - x) / x).abs() <= 2f32.powi(-11), "{x} → {r}");
            x *= 1.0137;
        }
        assert_eq!(f32_to_f16(65520.0), 0x7c00, "rounds up to infinity");
        assert_eq!(f32_to_f16(-0.0), 0x8000);
    }

    #[test]
    fn the_file_holds_what_was_added() {
        let dev = Cpu::seed_from_u64(1);
        let mut model = dev.build_module::<(Linear<3, 2>, ReLU, Linear<2, 3>), f32>();
        let mut file = SafeTensors::default();
        file.metadata("what", "a test");
        file.add_module("m.", &model, Dtype::F32);
        file.add("h", &[2], &[0.1, -3.0], Dtype::F16);
        file.add("u", &[3], &[-4.0, 7.4, 300.0], Dtype::U8);
        let bytes = file.to_bytes();
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        assert!(n.is_multiple_of(8));
        let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
        assert_eq!(header["__metadata__"]["what"], "a test");
        let data = &bytes[8 + n..];
        let range = |name: &str| {
            let o = &header[name]["data_offsets"];
            &data[o[0].as_u64().unwrap() as usize..o[1].as_u64().unwrap() as usize]
        };
        let w: Vec<f32> = range("m.0.weight")
            .chunks(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(w, model.0.weight.as_vec());
        assert_eq!(header["m.0.weight"]["shape"], serde_json::json!([2, 3]));
        let h: Vec<f32> = range("h")
            .chunks(2)
            .map(|b| f16_to_f32(u16::from_le_bytes(b.try_into().unwrap())))
            .collect();
        assert_eq!(h, [f16_to_f32(f32_to_f16(0.1)), -3.0]);
        assert_eq!(range("u"), [0, 7, 255]);

        round_to_f16(&mut model);
        assert!(model
            .2
            .weight
            .as_vec()
            .iter()
            .all(|&v| f16_to_f32(f32_to_f16(v)) == v));
    }
}
