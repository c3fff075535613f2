/* Ordinary libc use (floating point is floats.c): malloc/free of many sizes (large ones are mmap'ed by the
 * allocator), qsort, string functions, getopt, time and clock_gettime, getrandom, uname, and
 * identity calls. Output must equal the host's (times are checked, not printed). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include <getopt.h>
#include <sys/utsname.h>
#include <sys/random.h>
#include <sys/uio.h>
#include <errno.h>
#include <sys/syscall.h>

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void memory(void)
{
    /* sizes from a few bytes to several MiB: glibc and musl serve the big ones with mmap */
    static const size_t sizes[] = {1, 7, 16, 100, 1000, 4096, 10000, 65536, 131072, 300000, 1 << 20, 5 << 20};
    enum { N = sizeof sizes / sizeof *sizes };
    unsigned char *blocks[N];
    unsigned long sum = 0;
    for (int round = 0; round < 3; round++)
    {
        for (int i = 0; i < N; i++)
        {
            blocks[i] = malloc(sizes[i]);
            if (!blocks[i]) { printf("malloc(%zu) failed\n", sizes[i]); exit(1); }
            memset(blocks[i], (i + round) & 0xff, sizes[i]);
        }
        for (int i = 0; i < N; i++)
        {
            for (size_t k = 0; k < sizes[i]; k += 997) sum += blocks[i][k];
            sum += blocks[i][sizes[i] - 1];
        }
        for (int i = N - 1; i >= 0; i--) free(blocks[i]);
    }
    void *many[2000];
    for (int i = 0; i < 2000; i++) { many[i] = malloc((size_t)(i * 37) % 3000 + 1); memset(many[i], i, (size_t)(i * 37) % 3000 + 1); }
    for (int i = 0; i < 2000; i += 2) free(many[i]);
    for (int i = 0; i < 2000; i += 2) many[i] = calloc(1, 64);
    int zeros = 1;
    for (int i = 0; i < 2000; i += 2) for (int k = 0; k < 64; k++) if (((char *)many[i])[k]) zeros = 0;
    for (int i = 0; i < 2000; i++) free(many[i]);
    char *r = malloc(10);
    strcpy(r, "grow");
    r = realloc(r, 2 << 20);
    r = realloc(r, 100);
    printf("malloc sum=%lu calloc zero=%d realloc kept=%s\n", sum, zeros, r);
    free(r);
}

static void sorting(void)
{
    int a[1000];
    unsigned x = 12345;
    for (int i = 0; i < 1000; i++) { x = x * 1103515245u + 12345u; a[i] = (int)(x >> 8) % 10000; }
    qsort(a, 1000, sizeof *a, cmp_int);
    int sorted = 1;
    for (int i = 1; i < 1000; i++) if (a[i - 1] > a[i]) sorted = 0;
    printf("qsort sorted=%d min=%d median=%d max=%d\n", sorted, a[0], a[500], a[999]);
    char *words[] = {"pear", "apple", "fig", "banana", "cherry", "date"};
    qsort(words, 6, sizeof *words, cmp_str);
    for (int i = 0; i < 6; i++) printf("%s%c", words[i], i == 5 ? '\n' : ' ');
}

static void strings(void)
{
    char buf[128] = "The quick brown fox";
    strcat(buf, " jumps over the lazy dog");
    printf("len=%zu chr=%s rchr=%s str=%s\n", strlen(buf), strchr(buf, 'q'), strrchr(buf, 'o'), strstr(buf, "fox"));
    char copy[128];
    strncpy(copy, buf, sizeof copy);
    printf("cmp=%d ncmp=%d casecmp=%d\n", strcmp(buf, copy) == 0, strncmp("abcdef", "abcxyz", 3) == 0, strcasecmp("HeLLo", "hello") == 0);
    char *save, *tok = strtok_r(copy, " ", &save);
    int n = 0;
    while (tok) { n++; tok = strtok_r(NULL, " ", &save); }
    char *dup = strdup("duplicate");
    printf("tokens=%d dup=%s spn=%zu cspn=%zu\n", n, dup, strspn("aaabbb", "a"), strcspn("hello world", " "));
    free(dup);
    printf("strtol=%ld strtoul=%lu atoi=%d\n", strtol("-0x1f", NULL, 16), strtoul("777", NULL, 8), atoi("  42abc"));
    char m[16];
    memset(m, 'x', sizeof m);
    memmove(m + 2, m, 8);
    memcpy(m, "memcpy", 6);
    printf("mem=%.16s memcmp=%d error=%s\n", m, memcmp("abc", "abd", 3) < 0, strerror(ENOENT));
}

static void options(int argc, char **argv)
{
    int opt, verbose = 0;
    const char *name = "none";
    long count = 0;
    optind = 1;
    while ((opt = getopt(argc, argv, "vn:c:")) != -1)
    {
        switch (opt)
        {
        case 'v': verbose++; break;
        case 'n': name = optarg; break;
        case 'c': count = strtol(optarg, NULL, 10); break;
        default: printf("bad option\n"); break;
        }
    }
    printf("getopt verbose=%d name=%s count=%ld rest=", verbose, name, count);
    for (int i = optind; i < argc; i++) printf("[%s]", argv[i]);
    printf("\n");
}

static void clocks(void)
{
    struct timespec a, b, r;
    clock_gettime(CLOCK_MONOTONIC, &a);
    volatile unsigned long spin = 0;
    for (int i = 0; i < 100000; i++) spin += i;
    clock_gettime(CLOCK_MONOTONIC, &b);
    int forward = b.tv_sec > a.tv_sec || (b.tv_sec == a.tv_sec && b.tv_nsec >= a.tv_nsec);
    time_t t = time(NULL);
    int res = clock_getres(CLOCK_REALTIME, &r) == 0;
    struct timespec nap = {0, 1000000};
    int slept = nanosleep(&nap, NULL) == 0;
    struct tm tm;
    time_t fixed = 86400 * 365;
    gmtime_r(&fixed, &tm);
    char when[64];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    printf("clock forward=%d time>=0:%d res=%d nanosleep=%d clock()>=0:%d gmtime=%s\n",
           forward, t >= 0, res, slept, clock() >= 0, when);
}

static void identity(void)
{
    struct utsname u;
    int ok = uname(&u) == 0;
    printf("uname ok=%d sysname=%s machine=%s\n", ok, u.sysname, u.machine);
    unsigned char rnd[32];
    ssize_t got = getrandom(rnd, sizeof rnd, 0);
    printf("getrandom=%zd\n", got);
    printf("ids equal=%d pid>0:%d\n", getuid() == geteuid() && getgid() == getegid(), getpid() > 0);
    struct iovec iov[3] = {{"writev ", 7}, {"gathers ", 8}, {"buffers\n", 8}};
    fflush(stdout);
    ssize_t w = writev(1, iov, 3);
    printf("writev=%zd\n", w);
    errno = 0;
    long r = syscall(999);                  /* no such call, here or on Linux: ENOSYS */
    printf("syscall 999=%ld errno=%s\n", r, strerror(errno));
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--random") == 0)
    {
        unsigned char b[24];
        if (getrandom(b, sizeof b, 0) != sizeof b) return 1;
        for (unsigned i = 0; i < sizeof b; i++) printf("%02x", b[i]);
        printf("\n");
        return 0;
    }
    setvbuf(stdout, NULL, _IOFBF, 0);
    memory();
    sorting();
    strings();
    options(argc, argv);
    clocks();
    identity();
    printf("done\n");
    return 0;
}
