#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

const char *__progname = "";

static void report(const char *fmt, va_list ap, int with_errno)
{
    int e = errno;
    char buf[1024];
    int n = 0;
    if (__progname[0]) n = snprintf(buf, sizeof buf, "%s: ", __progname);
    if (fmt && n < (int)sizeof buf) n += vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
    if (with_errno && n < (int)sizeof buf)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "%s%s", fmt ? ": " : "", strerror(e));
    if (n > (int)sizeof buf - 2) n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    fwrite(buf, 1, (size_t)n, stderr);
}
void vwarn(const char *fmt, va_list ap) { report(fmt, ap, 1); }
void vwarnx(const char *fmt, va_list ap) { report(fmt, ap, 0); }
void verr(int status, const char *fmt, va_list ap) { report(fmt, ap, 1); exit(status); }
void verrx(int status, const char *fmt, va_list ap) { report(fmt, ap, 0); exit(status); }
void warn(const char *fmt, ...) { va_list ap; va_start(ap, fmt); vwarn(fmt, ap); va_end(ap); }
void warnx(const char *fmt, ...) { va_list ap; va_start(ap, fmt); vwarnx(fmt, ap); va_end(ap); }
void err(int status, const char *fmt, ...) { va_list ap; va_start(ap, fmt); verr(status, fmt, ap); }
void errx(int status, const char *fmt, ...) { va_list ap; va_start(ap, fmt); verrx(status, fmt, ap); }
