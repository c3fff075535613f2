#ifndef _SYS_IOCTL_H
#define _SYS_IOCTL_H
/* Linux's terminal ioctls (asm-generic/ioctls.h): the console answers these; anything else is
 * ENOTTY. */
struct winsize { unsigned short ws_row, ws_col, ws_xpixel, ws_ypixel; };
#define TCGETS 0x5401
#define TCSETS 0x5402
#define TCSETSW 0x5403
#define TCSETSF 0x5404
#define TIOCSCTTY 0x540E
#define TIOCGPGRP 0x540F
#define TIOCSPGRP 0x5410
#define TIOCGWINSZ 0x5413
#define TIOCSWINSZ 0x5414
#define FIONREAD 0x541B
#define TIOCNOTTY 0x5422
#define FIONBIO 0x5421
int ioctl(int fd, unsigned long request, ...);
#endif
