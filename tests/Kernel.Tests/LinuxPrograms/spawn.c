/* system() and popen(): the C library's posix_spawn (clone with CLONE_VM|CLONE_VFORK) runs /bin/sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    int st = system("echo from system");
    printf("system status exited=%d code=%d\n", WIFEXITED(st), WEXITSTATUS(st));
    st = system("exit 3");
    printf("system exit 3: code=%d\n", WEXITSTATUS(st));
    FILE *p = popen("echo one; echo two", "r");
    char line[64];
    int n = 0;
    while (fgets(line, sizeof line, p)) printf("popen line %d: %s", ++n, line);
    st = pclose(p);
    printf("pclose code=%d\n", WEXITSTATUS(st));
    return 0;
}
