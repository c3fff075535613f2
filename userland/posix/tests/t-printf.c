/* stdio formatting and the rest of the libc (string, stdlib, errno). */
#include "t.h"
#include <limits.h>
#include <stdint.h>
#include <ctype.h>
#include <assert.h>
#include <inttypes.h>
#include <strings.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <err.h>

static int fails;
static void expect(const char *got, const char *want, const char *fmt)
{
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "FAIL format \"%s\": got \"%s\" want \"%s\"\n", fmt, got, want);
        fails++;
    }
}
#define F(want, ...) do { char b[256]; snprintf(b, sizeof b, __VA_ARGS__); expect(b, want, #__VA_ARGS__); } while (0)

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return x < y ? -1 : x > y;
}

int main(void)
{
    F("42", "%d", 42);
    F("-42", "%i", -42);
    F("4294967295", "%u", 4294967295u);
    F("ff FF 777", "%x %X %o", 255, 255, 0777);
    F("c", "%c", 'c');
    F("hello", "%s", "hello");
    char *volatile nullstr = 0;
    F("(null)", "%s", nullstr);
    F("0x1234", "%p", (void *)0x1234);
    F("(nil)", "%p", (void *)0);
    F("123456789012", "%zu", (size_t)123456789012UL);
    F("-9223372036854775808", "%ld", LONG_MIN);
    F("18446744073709551615", "%lu", ULONG_MAX);
    F("-1234567890123", "%lld", -1234567890123LL);
    F("12345678901234", "%llu", 12345678901234ULL);
    F("100%", "%d%%", 100);
    F("   42", "%5d", 42);
    F("42   |", "%-5d|", 42);
    F("00042", "%05d", 42);
    F("-0042", "%05d", -42);
    F("+42", "%+d", 42);
    F(" 42", "% d", 42);
    F("0xff 0XFF 0777 0", "%#x %#X %#o %#x", 255, 255, 0777, 0);
    F("  007", "%5.3d", 7);
    F("hel", "%.3s", "hello");
    F("  hel", "%5.3s", "hello");
    F("   ab", "%*s", 5, "ab");
    F("ab   |", "%*s|", -5, "ab");
    F("abc", "%.*s", 3, "abcdef");
    F("", "%.0d", 0);
    F("0", "%d", 0);
    F("-2147483648", "%d", INT_MIN);
    F("x    |", "%-5c|", 'x');
    F("  0x10", "%6p", (void *)16);
    F("ffffffffffffffff", "%lx", ~0UL);
    F("-1 255", "%hhd %hhu", (signed char)-1, (unsigned char)255);
    F("-5 7 ff", "%" PRId64 " %" PRIu32 " %" PRIx64, (int64_t)-5, (uint32_t)7, (uint64_t)255);
    bool yes = true;
    F("1 39", "%d %d", yes, SYS_getpid);
    char small[8];
    int n = snprintf(small, sizeof small, "%s", "0123456789");
    if (n != 10 || strcmp(small, "0123456") != 0) { fprintf(stderr, "FAIL snprintf truncation\n"); fails++; }
    char big[64];
    if (sprintf(big, "%d-%s", 7, "x") != 3 || strcmp(big, "7-x") != 0) { fprintf(stderr, "FAIL sprintf\n"); fails++; }
    CHECK(fails == 0);
    pass("printf-formats");

    /* direct output paths: these exact lines are compared by the xunit oracle */
    printf("printf: [%5d] [%-5d] [%05d] [%x] [%s] [%c] [%%]\n", 42, 42, 42, 3054, "str", 'z');
    fprintf(stdout, "fprintf: %lu %lld\n", 123UL, -5LL);
    puts("puts line");
    putchar('p'); putchar('c'); putchar('\n');
    pass("stdio-output");

    /* string.h */
    CHECK(strlen("abc") == 3);
    CHECK(strcmp("abc", "abd") < 0 && strcmp("b", "a") > 0 && strcmp("x", "x") == 0);
    CHECK(strncmp("abcx", "abcy", 3) == 0);
    char buf[32];
    strcpy(buf, "foo");
    strcat(buf, "bar");
    CHECK(strcmp(buf, "foobar") == 0);
    CHECK(strchr(buf, 'b') == buf + 3 && strrchr("a/b/c", '/')[1] == 'c' && strchr(buf, 'z') == 0);
    CHECK(strstr(buf, "oba") == buf + 2 && strstr(buf, "xyz") == 0);
    memset(buf, 'x', 4);
    CHECK(memcmp(buf, "xxxxar", 6) == 0);
    memmove(buf + 1, buf, 5);
    CHECK(memcmp(buf, "xxxxxa", 6) == 0);
    char *d = strdup("dup");
    CHECK(d && strcmp(d, "dup") == 0);
    free(d);
    CHECK(strcmp(strerror(ENOENT), "No such file or directory") == 0);
    CHECK(strcmp(strerror(ECHILD), "No child processes") == 0);
    CHECK(EFAULT == 14 && EINVAL == 22 && EMFILE == 24 && EPIPE == 32 && ENOSYS == 38 && E2BIG == 7 && ENOEXEC == 8);
    pass("string");

    /* stdlib.h */
    CHECK(atoi("  -123xyz") == -123);
    char *end;
    CHECK(strtol("0x1f", &end, 0) == 31 && *end == 0);
    CHECK(strtol("077", 0, 0) == 63);
    CHECK(strtol("zz", &end, 36) == 35 * 36 + 35);
    CHECK(strtoul("4294967296", 0, 10) == 4294967296UL);
    CHECK(strtol("abc", &end, 10) == 0 && end[0] == 'a');
    errno = 0;
    CHECK(strtol("99999999999999999999", 0, 10) == LONG_MAX && errno == ERANGE);
    int arr[200];
    srandom(7);
    for (int i = 0; i < 200; i++) arr[i] = (int)(random() % 1000);
    qsort(arr, 200, sizeof arr[0], cmp_int);
    for (int i = 1; i < 200; i++) CHECK(arr[i - 1] <= arr[i]);
    srand(1);
    int r1 = rand();
    srand(1);
    CHECK(rand() == r1 && r1 >= 0);
    pass("stdlib");

    /* malloc: many sizes, contents kept, free and reuse, realloc, calloc */
    char *ptrs[300];
    for (int i = 0; i < 300; i++) {
        size_t sz = (size_t)(i * 37 % 2000) + 1;
        ptrs[i] = malloc(sz);
        CHECK(ptrs[i] && ((uintptr_t)ptrs[i] & 15) == 0);
        memset(ptrs[i], i & 0xff, sz);
    }
    for (int i = 0; i < 300; i += 2) { free(ptrs[i]); ptrs[i] = 0; }
    for (int i = 1; i < 300; i += 2) {
        size_t sz = (size_t)(i * 37 % 2000) + 1;
        for (size_t k = 0; k < sz; k++) CHECK((unsigned char)ptrs[i][k] == (i & 0xff));
        ptrs[i] = realloc(ptrs[i], sz + 5000);
        CHECK(ptrs[i]);
        for (size_t k = 0; k < sz; k++) CHECK((unsigned char)ptrs[i][k] == (i & 0xff));
        free(ptrs[i]);
    }
    int *z = calloc(1000, sizeof(int));
    CHECK(z);
    for (int i = 0; i < 1000; i++) CHECK(z[i] == 0);
    free(z);
    char *huge = malloc((size_t)1 << 20);
    CHECK(huge);
    memset(huge, 1, (size_t)1 << 20);
    free(huge);
    pass("malloc");

    /* ctype, limits, wait macros */
    CHECK(isdigit('5') && !isdigit('a') && isspace('\t') && toupper('a') == 'A');
    CHECK(ARG_MAX == 65536 && OPEN_MAX == 128 && PATH_MAX >= 256);
    CHECK(WIFEXITED(3 << 8) && WEXITSTATUS(3 << 8) == 3 && !WIFSIGNALED(3 << 8));
    CHECK(WIFSIGNALED(11) && WTERMSIG(11) == 11 && !WIFEXITED(11));
    assert(1 + 1 == 2);
    pass("headers");
    return 0;
}
