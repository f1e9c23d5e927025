/* Consumer test: a C99 program built against an INSTALLED libqwen (pkg-config, CMake or the
 * static library; see tests/consumers/run.sh). It checks that the header and the library
 * agree on the version, that errors come back as a status plus a message, and, when
 * QWEN_TEST_MODEL names a GGUF file, that a model loads and evaluates.
 * Prints "consumer: OK ..." and exits 0 on success. */
#include <qwen/qwen.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond, ...)                                   \
    do {                                                   \
        if (!(cond)) {                                     \
            fprintf(stderr, "consumer: FAILED %s: ", #cond); \
            fprintf(stderr, __VA_ARGS__);                  \
            fputc('\n', stderr);                           \
            failures++;                                    \
        }                                                  \
    } while (0)

static void check_version(void) {
    char expected[64];
    snprintf(expected, sizeof expected, "%d.%d.%d", QWEN_VERSION_MAJOR, QWEN_VERSION_MINOR,
             QWEN_VERSION_PATCH);
    CHECK(strcmp(qwen_version(), expected) == 0, "qwen_version() = \"%s\", header says \"%s\"",
          qwen_version(), expected);
    CHECK(qwen_version_number() == QWEN_VERSION_NUMBER, "qwen_version_number() = %u, header says %d",
          qwen_version_number(), QWEN_VERSION_NUMBER);
}

static void check_missing_file(void) {
    const char *path = "/nonexistent/libqwen-consumer-test/model.gguf";
    qwen_model *model = NULL;
    qwen_status st = qwen_model_load(path, NULL, &model);
    CHECK(st == QWEN_ERR_IO, "qwen_model_load(missing) returned %s (%d), expected QWEN_ERR_IO",
          qwen_status_name(st), (int)st);
    CHECK(model == NULL, "the output handle was set on failure");
    CHECK(strstr(qwen_last_error(), path) != NULL, "qwen_last_error() does not name the path: \"%s\"",
          qwen_last_error());
    CHECK(strcmp(qwen_status_name(QWEN_ERR_IO), "QWEN_ERR_IO") == 0, "qwen_status_name(QWEN_ERR_IO) = \"%s\"",
          qwen_status_name(QWEN_ERR_IO));
}

static void run_model(const char *path) {
    qwen_model *model = NULL;
    qwen_context *ctx = NULL;
    qwen_context_params cp;
    const int32_t tokens[] = {151644, 872, 198, 9707}; /* <|im_start|>user\nHello */
    size_t n_tokens = sizeof tokens / sizeof tokens[0];
    size_t i, n_rows = 0, best = 0;
    int32_t n_vocab;
    const float *logits;
    qwen_status st;

    st = qwen_model_load(path, NULL, &model);
    CHECK(st == QWEN_OK, "qwen_model_load(%s): %s", path, qwen_last_error());
    if (st != QWEN_OK) return;
    n_vocab = qwen_model_n_vocab(model);
    CHECK(n_vocab > 0, "qwen_model_n_vocab() = %d", (int)n_vocab);
    if (n_vocab <= 0) {
        qwen_model_free(model);
        return;
    }
    cp = qwen_context_default_params();
    cp.n_ctx = 64;
    st = qwen_context_create(model, &cp, &ctx);
    CHECK(st == QWEN_OK, "qwen_context_create: %s", qwen_last_error());
    if (st == QWEN_OK) {
        int32_t ids[sizeof tokens / sizeof tokens[0]];
        for (i = 0; i < n_tokens; i++) /* stay inside the vocabulary of tiny test models */
            ids[i] = tokens[i] % n_vocab;
        st = qwen_eval(ctx, ids, n_tokens, 0);
        CHECK(st == QWEN_OK, "qwen_eval: %s", qwen_last_error());
        logits = qwen_context_logits(ctx, &n_rows);
        CHECK(logits != NULL && n_rows == 1, "qwen_context_logits: %p, %zu rows", (const void *)logits, n_rows);
        CHECK(qwen_context_n_past(ctx) == n_tokens, "n_past = %u", qwen_context_n_past(ctx));
        if (logits != NULL) {
            for (i = 1; i < (size_t)n_vocab; i++)
                if (logits[i] > logits[best]) best = i;
            printf("consumer: model %s: %zu tokens evaluated, n_vocab %d, argmax %zu (logit %g)\n", path,
                   n_tokens, (int)n_vocab, best, (double)logits[best]);
        }
    }
    qwen_context_free(ctx);
    qwen_model_free(model);
}

int main(void) {
    const char *model = getenv("QWEN_TEST_MODEL");
    check_version();
    check_missing_file();
    if (model != NULL && model[0] != '\0')
        run_model(model);
    else
        printf("consumer: QWEN_TEST_MODEL not set: model evaluation skipped\n");
    if (failures) {
        fprintf(stderr, "consumer: %d check(s) failed\n", failures);
        return 1;
    }
    printf("consumer: OK, libqwen %s (header %d.%d.%d, ABI %d)\n", qwen_version(), QWEN_VERSION_MAJOR,
           QWEN_VERSION_MINOR, QWEN_VERSION_PATCH, QWEN_ABI_VERSION);
    return 0;
}
