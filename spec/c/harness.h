/*
 * harness.h - a tiny test harness for the C specs. Header-only; include it
 * from exactly one .c file per test binary.
 *
 *   TEST(parses_a_header) { CHECK_EQ_INT(f(), 16); }
 *   int main(int argc, char **argv) { return harness_main(argc, argv); }
 *
 * Tests register themselves (a constructor per TEST) and run in file order.
 * A failed CHECK reports file:line and the values, marks the test failed
 * and carries on. The run ends with exactly one summary line,
 * "c-tests <binary-name>: N passed, M failed", and exit status 1 when M > 0.
 * argv[1], when given, is the fixtures directory (harness_fixtures).
 */
#ifndef HARNESS_H
#define HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HARNESS_MAX_TESTS 512

typedef void (*harness_fn)(void);

static struct {
    const char *names[HARNESS_MAX_TESTS];
    harness_fn fns[HARNESS_MAX_TESTS];
    int count;
    int current;
    int current_failed; /* failed checks in the current test */
    const char *fixtures;
} harness;

static inline void harness_register(const char *name, harness_fn fn)
{
    if (harness.count < HARNESS_MAX_TESTS) {
        harness.names[harness.count] = name;
        harness.fns[harness.count] = fn;
    }
    harness.count++;
}

#define TEST(name)                                                                                 \
    static void test_##name(void);                                                                 \
    __attribute__((constructor)) static void register_##name(void)                                 \
    {                                                                                              \
        harness_register(#name, test_##name);                                                      \
    }                                                                                              \
    static void test_##name(void)

static inline void harness_fail(const char *file, int line, const char *what)
{
    /* A check in a loop can fail thousands of times; the first few say it. */
    if (harness.current_failed == 0)
        fprintf(stderr, "FAIL %s\n", harness.names[harness.current]);
    if (harness.current_failed < 20)
        fprintf(stderr, "  %s:%d: %s\n", file, line, what);
    else if (harness.current_failed == 20)
        fprintf(stderr, "  (further failures of this test not shown)\n");
    harness.current_failed++;
}

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            harness_fail(__FILE__, __LINE__, "CHECK(" #cond ")");                                  \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_) {                                                                            \
            char m_[256];                                                                          \
            snprintf(m_, sizeof(m_), "%s == %s: %lld != %lld", #a, #b, a_, b_);                    \
            harness_fail(__FILE__, __LINE__, m_);                                                  \
        }                                                                                          \
    } while (0)

/* Strings: NUL-terminated on both sides. */
#define CHECK_EQ_STR(a, b)                                                                         \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0) {                                     \
            char m_[512];                                                                          \
            snprintf(m_, sizeof(m_), "%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)",     \
                     b_ ? b_ : "(null)");                                                          \
            harness_fail(__FILE__, __LINE__, m_);                                                  \
        }                                                                                          \
    } while (0)

/* Byte ranges: equal lengths and equal bytes; the first difference is named. */
#define CHECK_MEM(a, alen, b, blen)                                                                \
    harness_check_mem(__FILE__, __LINE__, #a, (const void *)(a), (size_t)(alen),                   \
                      (const void *)(b), (size_t)(blen))

static inline void harness_check_mem(const char *file, int line, const char *what, const void *a,
                                     size_t alen, const void *b, size_t blen)
{
    const unsigned char *x = a, *y = b;
    char m_[256];
    size_t i, n = alen < blen ? alen : blen;

    for (i = 0; i < n && x[i] == y[i]; i++)
        ;
    if (i == n && alen == blen)
        return;
    if (i < n)
        snprintf(m_, sizeof(m_), "%s: %zu vs %zu bytes, first difference at %zu: %02x != %02x",
                 what, alen, blen, i, x[i], y[i]);
    else
        snprintf(m_, sizeof(m_), "%s: %zu vs %zu bytes, equal up to %zu", what, alen, blen, n);
    harness_fail(file, line, m_);
}

/* Path of a fixture under the fixtures dir, in a static buffer. */
static inline const char *harness_path(const char *rel)
{
    static char path[1024];

    snprintf(path, sizeof(path), "%s/%s", harness.fixtures ? harness.fixtures : "spec/fixtures",
             rel);
    return path;
}

/*
 * Load a hex text file: whitespace ignored, '#' starts a comment running
 * to the end of the line. Returns the byte count, or -1 (unreadable file,
 * bad character, odd digit count, or more than cap bytes).
 */
static inline long harness_load_hex(const char *path, unsigned char *buf, size_t cap)
{
    FILE *fp = fopen(path, "r");
    long n = 0;
    int c, hi = -1;

    if (fp == NULL)
        return -1;
    while ((c = fgetc(fp)) != EOF) {
        int v;

        if (c == '#') {
            while ((c = fgetc(fp)) != EOF && c != '\n')
                ;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            continue;
        if (c >= '0' && c <= '9')
            v = c - '0';
        else if (c >= 'a' && c <= 'f')
            v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v = c - 'A' + 10;
        else
            break;
        if (hi < 0) {
            hi = v;
        } else {
            if ((size_t)n >= cap)
                break;
            buf[n++] = (unsigned char)(hi << 4 | v);
            hi = -1;
        }
    }
    fclose(fp);
    return c == EOF && hi < 0 ? n : -1;
}

static inline int harness_main(int argc, char **argv)
{
    const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    int i, passed = 0, failed = 0;

    harness.fixtures = argc > 1 ? argv[1] : NULL;
    if (harness.count > HARNESS_MAX_TESTS) {
        fprintf(stderr, "harness: %d tests, raise HARNESS_MAX_TESTS\n", harness.count);
        return 1;
    }
    for (i = 0; i < harness.count; i++) {
        harness.current = i;
        harness.current_failed = 0;
        harness.fns[i]();
        if (harness.current_failed) {
            failed++;
        } else {
            passed++;
        }
    }
    printf("c-tests %s: %d passed, %d failed\n", prog, passed, failed);
    return failed > 0;
}

#endif
