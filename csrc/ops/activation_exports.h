// Defines one ISA's activation_*_<suffix> entry points (activation_isa.h) from
// the templates of activation_vecmath.h on the includer's vector type VEC.
// Included once, last, by each activation_<isa>.cpp.
namespace fastmlp {
#define FASTMLP_EXPORT_CAT2(a, b) a##b
#define FASTMLP_EXPORT_CAT(a, b) FASTMLP_EXPORT_CAT2(a, b)
void FASTMLP_EXPORT_CAT(activation_forward_, FASTMLP_VM_NS)(const ActivationSpec& act, const float* x, float* y,
                                                          index_t n) {
  FASTMLP_VM_NS::forward_dispatch<FASTMLP_VM_NS::VEC>(act, x, y, n, false);
}
void FASTMLP_EXPORT_CAT(activation_backward_, FASTMLP_VM_NS)(const ActivationSpec& act, const float* dout,
                                                           const float* saved, float* dx, index_t n) {
  FASTMLP_VM_NS::backward_dispatch<FASTMLP_VM_NS::VEC>(act, dout, saved, dx, n, false);
}
void FASTMLP_EXPORT_CAT(activation_vecmath_, FASTMLP_VM_NS)(int fn, const float* x, float* y, index_t n) {
  FASTMLP_VM_NS::math_dispatch<FASTMLP_VM_NS::VEC>(fn, x, y, n);
}
void FASTMLP_EXPORT_CAT(activation_forward_stream_, FASTMLP_VM_NS)(const ActivationSpec& act, const float* x,
                                                                 float* y, index_t n) {
  FASTMLP_VM_NS::forward_dispatch<FASTMLP_VM_NS::VEC>(act, x, y, n, true);
}
void FASTMLP_EXPORT_CAT(activation_backward_stream_, FASTMLP_VM_NS)(const ActivationSpec& act, const float* dout,
                                                                  const float* saved, float* dx, index_t n) {
  FASTMLP_VM_NS::backward_dispatch<FASTMLP_VM_NS::VEC>(act, dout, saved, dx, n, true);
}
#undef FASTMLP_EXPORT_CAT
#undef FASTMLP_EXPORT_CAT2
}  // namespace fastmlp
