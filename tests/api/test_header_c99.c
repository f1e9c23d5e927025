/* The public header must compile as strict C99 (checked with -std=c99 -pedantic -Werror). */
#include <qwen/qwen.h>

int qwen_header_c99_probe(void);
int qwen_header_c99_probe(void) {
    qwen_model_params mp = qwen_model_default_params();
    qwen_context_params cp = qwen_context_default_params();
    return (int)(mp.struct_size + cp.struct_size) + (int)QWEN_OK;
}
