#include "quantizer/quantizer.hpp"

#include "core/error.hpp"
#include "core/page_buffer.hpp"
#include "format/gguf.hpp"
#include "format/gguf_source.hpp"
#include "format/hf_source.hpp"
#include "quant/dequantize.hpp"
#include "quant/quantize.hpp"
#include "quantizer/ftype.hpp"
#include "quantizer/metadata.hpp"
#include "quantizer/tensor_types.hpp"

#include <omp.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <vector>

namespace qwen::quantizer {

namespace {

// Rows converted per slab: enough to keep the threads busy, few enough that the output
// buffer stays small (a slab of token_embd rows of Qwen2.5 in Q8_0 is ~1 MiB).
constexpr size_t kSlabElems = size_t(1) << 20;

struct Job {
    const TensorView* tensor;
    TensorType to;
    uint64_t n_per_row, n_rows;
    size_t from_row_bytes, to_row_bytes;
};

Job plan_tensor(const TensorView& t, TensorType to, bool allow_requantize) {
    if (t.dims.empty()) fail(QWEN_ERR_FORMAT, t.where, " has no dimensions");
    uint64_t n_rows = 1;
    for (size_t d = 1; d < t.dims.size(); ++d) n_rows *= t.dims[d];
    Job job{&t, to, t.dims[0], n_rows, *tensor_row_bytes(t.type, t.dims[0]), 0};
    if (to == t.type) {
        job.to_row_bytes = job.from_row_bytes;
        return job;
    }
    if (!quant::can_dequantize(t.type))
        fail(QWEN_ERR_UNSUPPORTED, t.where, ": type ", tensor_type_name(t.type), " cannot be converted to ",
             tensor_type_name(to));
    if (is_quantized(t.type) && !allow_requantize)
        fail(QWEN_ERR_UNSUPPORTED, t.where, " is already quantized (", tensor_type_name(t.type),
             "): requantizing loses quality and is off unless allow_requantize is set");
    if (!quant::can_quantize(to)) fail(QWEN_ERR_INTERNAL, "no quantizer for ", tensor_type_name(to));
    job.to_row_bytes = *tensor_row_bytes(to, t.dims[0]);  // the choice of `to` made sure rows fit
    return job;
}

// Converts a tensor slab by slab into the stream; each thread keeps one float row. The
// input's bytes are read once: dropping their pages once converted keeps the resident size
// at about a slab instead of growing to the whole input (the mapping is private and
// read-only, so this loses nothing; an input read into memory has its pages freed).
void convert(const Job& job, int n_threads, GgufStream& out) {
    const TensorView& t = *job.tensor;
    if (job.to == t.type) {
        out.append(t.data, t.bytes);
        release_pages(t.data, t.bytes);
        return;
    }
    const size_t n = size_t(job.n_per_row);
    const uint64_t slab_rows = std::max<uint64_t>(1, kSlabElems / n);
    std::vector<uint8_t> buf(size_t(std::min(slab_rows, job.n_rows)) * job.to_row_bytes);
    for (uint64_t r0 = 0; r0 < job.n_rows; r0 += slab_rows) {
        const long rows = long(std::min(slab_rows, job.n_rows - r0));
#pragma omp parallel num_threads(n_threads)
        {
            std::vector<float> row(n);
#pragma omp for schedule(static)
            for (long r = 0; r < rows; ++r) {
                quant::dequantize_row(t.type, t.data + (r0 + uint64_t(r)) * job.from_row_bytes, row.data(), n);
                quant::quantize_row(job.to, row.data(), buf.data() + size_t(r) * job.to_row_bytes, n);
            }
        }
        out.append(buf.data(), size_t(rows) * job.to_row_bytes);
        release_pages(t.data + r0 * job.from_row_bytes, size_t(rows) * job.from_row_bytes);
    }
}

void check_distinct(const std::string& src, const std::string& dst) {
    std::error_code ec;
    if (src == dst || std::filesystem::equivalent(src, dst, ec))
        fail(QWEN_ERR_INVALID_ARGUMENT, "the output '", dst, "' is the input file");
}

}  // namespace

void quantize_model(const std::string& src, const std::string& dst, const QuantizeOptions& options) {
    const auto ftype = ftype_info(options.ftype);
    if (!ftype) fail(QWEN_ERR_INVALID_ARGUMENT, "ftype ", int(options.ftype), " is not one of: ", ftype_names());
    check_distinct(src, dst);

    GgufWriter header;
    std::unique_ptr<ModelSource> source;
    const bool from_hf = is_hf_folder(src);
    if (from_hf) {
        source = open_hf_folder(src);
        hf_metadata(*source, src, header);
    } else {
        auto file = std::make_shared<const GgufFile>(src);
        source = open_gguf_source(file);
        gguf_metadata(*file, header);
    }
    header.set_uint32("general.quantization_version", kQuantizationVersion);
    header.set_uint32("general.file_type", uint32_t(options.ftype));

    const auto ordered = file_order(*source);
    const auto types = choose_types(ordered, source->hparams(), options.ftype, options.pure, from_hf);
    std::vector<Job> jobs;
    for (size_t i = 0; i < ordered.size(); ++i) {
        jobs.push_back(plan_tensor(*ordered[i], types[i], options.allow_requantize));
        header.declare_tensor(ordered[i]->name, types[i], ordered[i]->dims);
    }

    const int n_threads = options.n_threads > 0 ? options.n_threads : omp_get_max_threads();
    GgufStream out(header, dst);
    for (size_t i = 0; i < jobs.size(); ++i) {
        const Job& j = jobs[i];
        if (options.progress &&
            !options.progress({i, jobs.size(), j.tensor->name, j.tensor->type, j.to, j.tensor->bytes,
                               j.n_rows * j.to_row_bytes}))
            fail(QWEN_ERR_ABORTED, "quantization of '", src, "' cancelled by the callback at tensor '",
                 j.tensor->name, "'");
        convert(j, n_threads, out);
    }
    out.commit();
}

}  // namespace qwen::quantizer
