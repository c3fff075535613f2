/* Files: console descriptors, lowest free descriptor, EBADF, EMFILE, ENOENT, EINVAL, EFAULT,
 * EOF, O_CREAT/O_TRUNC/O_APPEND, unlink, dup/dup2 sharing the offset, lseek, fstat. */
#include "t.h"
#include <sys/stat.h>

#define KADDR ((void *)0xffff800000000000UL)

int main(void)
{
    struct stat st;
    for (int fd = 0; fd < 3; fd++) CHECK(fstat(fd, &st) == 0);
    CHECK(write(1, "", 0) == 0);
    pass("files-std-descriptors-open");

    const char *path = "t-files.tmp";
    int a = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(a >= 3);
    for (int fd = 0; fd < a; fd++) CHECK(fstat(fd, &st) == 0);   /* a was the lowest free one */
    int b = open(path, O_RDONLY);
    CHECK(b > a);
    CHECK(close(a) == 0);
    int c = open(path, O_RDONLY);
    CHECK(c == a);
    close(b);
    close(c);
    pass("files-lowest-free-descriptor");

    CHECK_ERR(close(c), EBADF);
    char buf[64];
    CHECK_ERR(read(c, buf, 1), EBADF);
    CHECK_ERR(write(c, "x", 1), EBADF);
    CHECK_ERR(close(-1), EBADF);
    CHECK_ERR(read(1000, buf, 1), EBADF);
    CHECK_ERR(write(-5, "x", 1), EBADF);
    CHECK_ERR(close(0x7fffffff), EBADF);
    CHECK_ERR(dup(77), EBADF);
    pass("files-ebadf");

    CHECK_ERR(open("t-files.no-such-file", O_RDONLY), ENOENT);
    CHECK_ERR(open("/no/such/dir/file", O_RDONLY), ENOENT);
    pass("files-enoent");

    if (on_lab()) {
        /* 128 slots: the 129th open fails with EMFILE */
        int opened[200], n = 0;
        for (;;) {
            int fd = open(path, O_RDONLY);
            if (fd < 0) { CHECK(errno == EMFILE); break; }
            opened[n++] = fd;
            CHECK(n < 200);
        }
        CHECK(opened[n - 1] == 127);
        for (int i = 0; i < n; i++) close(opened[i]);
        pass("files-emfile-at-128");
        CHECK_ERR(open(path, 0x40000000 | O_RDONLY), EINVAL);
        pass("files-unknown-flags-einval");
    } else {
        skip("files-emfile-at-128", "the host's descriptor limit differs");
        skip("files-unknown-flags-einval", "Linux ignores unknown open flags");
    }

    /* bad pointers: EFAULT, never a crash */
    CHECK_ERR(open((char *)0, O_RDONLY), EFAULT);
    CHECK_ERR(open((char *)1, O_RDONLY), EFAULT);
    CHECK_ERR(open((char *)KADDR, O_RDONLY), EFAULT);
    int w = open(path, O_RDWR | O_TRUNC);
    CHECK(w >= 0 && write(w, "0123456789", 10) == 10 && lseek(w, 0, SEEK_SET) == 0);
    CHECK_ERR(read(w, (void *)8, 4), EFAULT);
    CHECK_ERR(read(w, KADDR, 4), EFAULT);
    CHECK_ERR(write(w, (void *)8, 4), EFAULT);
    CHECK_ERR(write(w, KADDR, 4), EFAULT);
    CHECK_ERR(write(1, (void *)0, 5), EFAULT);
    CHECK_ERR(write(w, (void *)16, (size_t)1 << 62), EFAULT);
    CHECK_ERR(read(w, KADDR, (size_t)-1 >> 1), EFAULT);
    if (on_lab()) {
        /* a valid buffer with a length running off the end of user memory */
        CHECK_ERR(write(w, buf, (size_t)1 << 46), EFAULT);
        pass("files-efault-huge-length");
    } else {
        skip("files-efault-huge-length", "Linux writes a prefix");
    }
    pass("files-efault");

    /* read returns 0 at end of file */
    CHECK(lseek(w, 0, SEEK_SET) == 0);
    CHECK(read(w, buf, sizeof buf) == 10 && memcmp(buf, "0123456789", 10) == 0);
    CHECK(read(w, buf, sizeof buf) == 0);
    CHECK(read(w, buf, sizeof buf) == 0);
    close(w);
    pass("files-eof");

    /* O_TRUNC, O_APPEND, O_CREAT, unlink */
    w = open(path, O_WRONLY | O_TRUNC);
    CHECK(w >= 0 && fstat(w, &st) == 0 && st.st_size == 0);
    CHECK(write(w, "abc", 3) == 3);
    close(w);
    w = open(path, O_WRONLY | O_APPEND);
    CHECK(w >= 0);
    CHECK(lseek(w, 0, SEEK_SET) == 0);
    CHECK(write(w, "def", 3) == 3);
    close(w);
    int r = open(path, O_RDONLY);
    CHECK(r >= 0 && read(r, buf, sizeof buf) == 6 && memcmp(buf, "abcdef", 6) == 0);
    CHECK(fstat(r, &st) == 0 && st.st_size == 6 && S_ISREG(st.st_mode));
    close(r);
    CHECK(stat(path, &st) == 0 && st.st_size == 6);
    CHECK(unlink(path) == 0);
    CHECK_ERR(open(path, O_RDONLY), ENOENT);
    CHECK_ERR(unlink(path), ENOENT);
    CHECK_ERR(stat(path, &st), ENOENT);
    w = open(path, O_WRONLY | O_CREAT, 0644);
    CHECK(w >= 0 && write(w, "new", 3) == 3);
    close(w);
    pass("files-creat-trunc-append-unlink");

    /* dup and dup2 share the open-file object and so the offset */
    r = open(path, O_RDONLY);
    CHECK(r >= 0);
    int d = dup(r);
    CHECK(d >= 0 && d != r);
    CHECK(read(r, buf, 1) == 1 && buf[0] == 'n');
    CHECK(read(d, buf, 1) == 1 && buf[0] == 'e');
    CHECK(lseek(d, 0, SEEK_CUR) == 2 && lseek(r, 0, SEEK_CUR) == 2);
    int target = d + 5;
    CHECK(dup2(r, target) == target);
    CHECK(read(target, buf, 1) == 1 && buf[0] == 'w');
    CHECK(read(r, buf, 1) == 0);
    CHECK(dup2(r, r) == r);
    CHECK(dup2(d, target) == target);  /* replaces the open target */
    CHECK(lseek(target, 0, SEEK_SET) == 0 && read(r, buf, 3) == 3 && memcmp(buf, "new", 3) == 0);
    CHECK_ERR(dup2(99, target), EBADF);
    close(target); close(d); close(r);
    CHECK_ERR(read(target, buf, 1), EBADF);
    unlink(path);
    pass("files-dup-dup2-share-offset");
    return 0;
}
