/* The console as a terminal, from a program's side (run by PosixTtyTests with keys fed to the
 * console; it needs a terminal, so it has no native run): canonical reads with line editing, a
 * SIGINT handler interrupting a read (EINTR), raw mode (ICANON, ECHO and ISIG off, VMIN 1) reading
 * keys one at a time, the foreground group and the window size. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <signal.h>
#include <errno.h>
#include <termios.h>
#include <sys/ioctl.h>

static volatile sig_atomic_t interrupts;
static void on_int(int sig) { (void)sig; interrupts++; }

static void show(const char *what, const char *buf, ssize_t n)
{
    printf("%s %zd:", what, n);
    for (ssize_t i = 0; i < n; i++) printf(" %02x", (unsigned char)buf[i]);
    printf("\n");
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    char buf[64];
    struct winsize ws;
    ioctl(0, TIOCGWINSZ, &ws);
    printf("tty=%d fg-is-mine=%d rows=%d cols=%d\n", isatty(0), tcgetpgrp(0) == getpgrp(), ws.ws_row, ws.ws_col);

    struct sigaction sa = { 0 };
    sa.sa_handler = on_int;                       /* no SA_RESTART: the read returns EINTR */
    sigaction(SIGINT, &sa, NULL);
    printf("ready canonical\n");
    ssize_t n = read(0, buf, sizeof buf);
    show("line", buf, n);
    printf("ready interrupt\n");
    n = read(0, buf, sizeof buf);
    printf("interrupted read=%zd %s interrupts=%d\n", n, n < 0 ? strerror(errno) : "", interrupts);
    printf("ready eof\n");
    n = read(0, buf, sizeof buf);
    printf("eof read=%zd\n", n);

    struct termios t, saved;
    tcgetattr(0, &saved);
    t = saved;
    t.c_lflag &= ~(ICANON | ECHO | ISIG);
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    tcsetattr(0, TCSANOW, &t);
    printf("ready raw\n");
    for (;;) {
        n = read(0, buf, 1);
        show("key", buf, n);
        if (n <= 0 || buf[0] == 'q') break;
    }
    tcsetattr(0, TCSANOW, &saved);
    tcgetattr(0, &t);
    printf("restored canonical=%d echo=%d\n", (t.c_lflag & ICANON) != 0, (t.c_lflag & ECHO) != 0);
    return 0;
}
