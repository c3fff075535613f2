/* Waits for SIGINT (Ctrl-C at the terminal) in a handler, then says so and exits 3. */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static volatile sig_atomic_t got;
static void on_int(int sig) { got = sig; }

int main(void) {
    signal(SIGINT, on_int);
    printf("ready\n");
    fflush(stdout);
    while (!got) pause();
    printf("got signal %d\n", (int)got);
    return 3;
}
