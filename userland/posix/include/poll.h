#ifndef _POLL_H
#define _POLL_H
/* Linux's poll(2) (asm-generic/poll.h). */
struct pollfd { int fd; short events, revents; };
typedef unsigned long nfds_t;
#define POLLIN 0x001
#define POLLPRI 0x002
#define POLLOUT 0x004
#define POLLERR 0x008
#define POLLHUP 0x010
#define POLLNVAL 0x020
int poll(struct pollfd *fds, nfds_t n, int timeout_ms);
#endif
