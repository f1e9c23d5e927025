// The quantization section of the C API (include/qwen/qwen.h).
#include "api/guard.hpp"
#include "quantizer/ftype.hpp"
#include "quantizer/quantizer.hpp"

using qwen::fail;
using qwen::guarded;

static const qwen_quantize_params kQuantizeDefaults = {sizeof(qwen_quantize_params), QWEN_FTYPE_Q8_0, 0, 0, 0,
                                                       nullptr, nullptr};

extern "C" {

QWEN_API void qwen_quantize_params_init(qwen_quantize_params* params, size_t struct_size) {
    qwen::init_params(params, struct_size, kQuantizeDefaults);
}

QWEN_API qwen_status qwen_model_quantize(const char* src_path, const char* dst_path,
                                         const qwen_quantize_params* params) {
    return guarded(__func__, [&] {
        QWEN_REQUIRE_ARG(src_path != nullptr);
        QWEN_REQUIRE_ARG(dst_path != nullptr);
        const qwen_quantize_params p = qwen::read_params(params, kQuantizeDefaults);
        qwen::quantizer::QuantizeOptions o;
        o.ftype = p.ftype;
        o.n_threads = p.n_threads;
        o.pure = p.pure != 0;
        o.allow_requantize = p.allow_requantize != 0;
        if (p.callback)
            o.progress = [&p](const qwen::quantizer::TensorProgress& t) {
                const qwen_quantize_progress e{t.index, t.count, t.name.c_str(),
                                               qwen::tensor_type_name(t.from).data(),
                                               qwen::tensor_type_name(t.to).data(), t.from_bytes, t.to_bytes};
                return p.callback(&e, p.user_data) == 0;
            };
        qwen::quantizer::quantize_model(src_path, dst_path, o);
    });
}

QWEN_API const char* qwen_ftype_name(qwen_ftype ftype) {
    const auto info = qwen::quantizer::ftype_info(ftype);
    return info ? info->name.data() : nullptr;
}

QWEN_API qwen_status qwen_ftype_from_name(const char* name, qwen_ftype* out) {
    return guarded(__func__, [&] {
        QWEN_REQUIRE_ARG(name != nullptr);
        QWEN_REQUIRE_ARG(out != nullptr);
        const auto info = qwen::quantizer::ftype_from_name(name);
        if (!info)
            fail(QWEN_ERR_INVALID_ARGUMENT, "'", name, "' is not a file type; use one of ",
                 qwen::quantizer::ftype_names());
        *out = info->ftype;
    });
}

}  // extern "C"
