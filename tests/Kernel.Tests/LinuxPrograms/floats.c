/* printf, snprintf and strtod of floating-point numbers, and a little libm. */
#include <stdio.h>
#include <stdlib.h>
#include <math.h>

static void floats(void)
{
    double vals[] = {0.0, 1.0, -2.5, 3.14159265358979, 1e-7, 6.02214076e23, 1.0 / 3.0, 100.125};
    for (unsigned i = 0; i < sizeof vals / sizeof *vals; i++)
        printf("%f %.3e %g %10.4f\n", vals[i], vals[i], vals[i], vals[i]);
    printf("sqrt(2)=%.12f pow=%.6f float=%f\n", sqrt(2.0), pow(2.0, 0.5), (double)(1.5f * 3.25f));
    char buf[64];
    snprintf(buf, sizeof buf, "%.2f", strtod("2.675", NULL));
    printf("strtod %s atof %.4f\n", buf, atof("-12.5e1"));
}

int main(void)
{
    floats();
    return 0;
}
