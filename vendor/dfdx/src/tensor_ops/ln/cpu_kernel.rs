use crate::tensor_ops::cpu_kernels::UnaryDerivative;
use crate::tensor_ops::utilities::vector_math::VectorMath;
use num_traits::Float;

impl<F: Float + VectorMath> UnaryDerivative<F> for super::LnKernelOp {
    const DF_USES_FX: bool = false;
    const HAS_CONST_DF: bool = false;
    #[inline(always)]
    fn f(&self, x: &F) -> F {
        x.vln()
    }
    #[inline(always)]
    fn df(&self, x: &F) -> F {
        x.recip()
    }
}
