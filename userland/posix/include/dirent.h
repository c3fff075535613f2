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
/* readdir's entry (glibc's x86-64 layout, which is the getdents64 record). */
struct dirent {
    ino_t d_ino;
    off_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[256];
};
typedef struct __dir DIR;
DIR *opendir(const char *path);
DIR *fdopendir(int fd);
struct dirent *readdir(DIR *d);
int closedir(DIR *d);
void rewinddir(DIR *d);
int dirfd(DIR *d);
#define DT_UNKNOWN 0
#define DT_FIFO 1
#define DT_CHR 2
#define DT_BLK 6
#define DT_LNK 10
#define DT_SOCK 12
#define DT_DIR 4
#define DT_REG 8
long getdents64(int fd, void *buf, size_t n);
#endif
