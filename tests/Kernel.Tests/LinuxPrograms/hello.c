/* The smallest ordinary program: stdio to stdout and stderr, an exit status. */
#include <stdio.h>

int main(int argc, char **argv)
{
    printf("hello, world\n");
    fprintf(stderr, "argc=%d\n", argc);
    for (int i = 1; i < argc; i++) printf("arg %d: %s\n", i, argv[i]);
    return 3;
}
