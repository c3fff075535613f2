/* long double (the x87's 80-bit extended format): arithmetic, conversions, printf and strtold, and
 * the libm functions that run on the x87's transcendental instructions. */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void show(const char *what, long double x)
{
    printf("%-10s %.21Lg %La %Le\n", what, x, x, x);
}

int main(int argc, char **argv)
{
    (void)argv;
    volatile long double third = 1.0L / 3.0L, big = LDBL_MAX, tiny = LDBL_MIN, den = LDBL_MIN / 1024;
    long double sum = 0, prod = 1;
    for (int i = 1; i <= 100; i++) { sum += 1.0L / i; prod *= 1.0L + 1.0L / (i * i); }
    show("third", third);
    show("harmonic", sum);
    show("product", prod);
    show("sqrt2", sqrtl(2.0L));
    show("sqrt3rd", sqrtl(third));
    show("big", big);
    show("big*2", big * (argc + 1));          /* overflow to inf */
    show("tiny", tiny);
    show("denormal", den);
    show("den/3", den / 3);
    show("-0", -0.0L * (argc));
    show("0/0", (argc - 1.0L) / (argc - 1.0L));
    show("1/0", 1.0L / (argc - 1));
    show("eps", LDBL_EPSILON);
    show("1+eps/2", 1.0L + LDBL_EPSILON / 2);
    show("1+eps", 1.0L + LDBL_EPSILON);

    /* conversions both ways */
    long double v = 12345678901234567890.0L;
    printf("to integers: %lld %llu %d %ld\n", (long long)(v / 3), (unsigned long long)v, (int)-third * 7, (long)(-v / 1e10L));
    printf("from integers: %Lg %Lg %Lg\n", (long double)LLONG_MIN, (long double)ULLONG_MAX, (long double)(INT_MAX - argc));
    printf("to double/float: %.17g %.9g %.17g\n", (double)third, (float)third, (double)big);
    printf("rounding: %.0Lf %.0Lf %.0Lf %.0Lf %.3Lf\n", 0.5L, 1.5L, 2.5L, -2.5L, 2.0005L);
    printf("rint/floor/ceil/trunc: %Lg %Lg %Lg %Lg %Lg\n", rintl(2.5L), floorl(-2.5L), ceill(-2.5L), truncl(-2.7L), nearbyintl(3.5L));
    printf("fmod/remainder: %Lg %Lg %Lg\n", fmodl(10.0L, 3.0L), remainderl(10.0L, 3.0L), fmodl(1e30L, 7.0L));
    printf("frexp/ldexp/logb: ");
    int e;
    long double m = frexpl(123456.789L, &e);
    printf("%La %d %La %Lg\n", m, e, ldexpl(m, e + 100), logbl(1e100L));
    printf("compare: %d %d %d %d %d\n", third < 0.34L, third > 0.33L, third == 1.0L / 3, isnan((argc - 1.0L) / (argc - 1.0L)), isinf(big * 2));
    printf("fabs/copysign: %Lg %Lg\n", fabsl(-third), copysignl(2.0L, -0.0L));

    /* strtold and printf formats */
    const char *texts[] = {"3.14159265358979323846264338327950288", "1e4932", "1e-4950", "0x1.8p-16445", "-inf", "nan",
                           "18446744073709551615.5", "2.2250738585072014e-308", "1.18973149535723176502e+4932"};
    for (unsigned i = 0; i < sizeof texts / sizeof *texts; i++) {
        long double x = strtold(texts[i], NULL);
        printf("strtold(%s) = %.25Lg %La\n", texts[i], x, x);
    }
    char buf[128];
    snprintf(buf, sizeof buf, "%30.20Lf|%-12.4Le|%Lg", 1.0L / 7, 6.02214076e23L, 1e-5L);
    printf("snprintf: %s\n", buf);
    printf("doubles: %f %e %g %a\n", 0.1, 1e300, 1e-300, 1.0 / 3);

    /* libm on the x87's transcendental instructions (shown to 15 digits: within a few ulps) */
    long double xs[] = {0.5L, 1.0L, 2.0L, 10.0L, 0.001L, 100.25L, -3.75L};
    for (unsigned i = 0; i < sizeof xs / sizeof *xs; i++) {
        long double x = xs[i];
        printf("x=%Lg sin=%.15Lg cos=%.15Lg tan=%.15Lg atan=%.15Lg atan2=%.15Lg exp=%.15Lg exp2=%.15Lg expm1=%.15Lg log=%.15Lg log2=%.15Lg log10=%.15Lg log1p=%.15Lg pow=%.15Lg\n",
               x, sinl(x), cosl(x), tanl(x), atanl(x), atan2l(x, 3.0L), expl(x), exp2l(x), expm1l(x),
               logl(fabsl(x)), log2l(fabsl(x)), log10l(fabsl(x)), log1pl(fabsl(x)), powl(fabsl(x), 1.5L));
    }
    return 0;
}
