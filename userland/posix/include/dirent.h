#ifndef _DIRENT_H
#define _DIRENT_H
#include <sys/types.h>
/* Linux getdents64 record. */
struct linux_dirent64 {
    unsigned long d_ino;
    long d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};
#define DT_UNKNOWN 0
#define DT_DIR 4
#define DT_REG 8
long getdents64(int fd, void *buf, size_t n);
#endif
