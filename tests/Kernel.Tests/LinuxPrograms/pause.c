/* Waits in pause() for a signal that only the outside can send (tui run forwards Ctrl-C). */
#include <stdio.h>
#include <unistd.h>

int main(void)
{
    puts("waiting for a signal");
    fflush(stdout);
    pause();
    return 0;
}
