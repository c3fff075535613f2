/* Files through stdio and the *at calls glibc and musl use: fopen/fwrite/fread/fseek, fprintf and
 * fgets, stat and fstat, pread/pwrite, fcntl, dup/dup3, opendir/readdir, unlink. Works in the
 * directory given as argv[1] (a fresh empty one). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    if (argc < 2) { fprintf(stderr, "usage: files DIR\n"); return 2; }
    char path[512];
    const char *dir = argv[1];

    /* stdio: write a binary file and a text file, read them back */
    snprintf(path, sizeof path, "%s/data.bin", dir);
    FILE *f = fopen(path, "wb");
    if (!f) { perror("fopen"); return 1; }
    unsigned char block[5000];
    for (int i = 0; i < 5000; i++) block[i] = (unsigned char)(i * 7);
    size_t wrote = fwrite(block, 1, sizeof block, f) + fwrite(block, 1, 1234, f);
    fclose(f);
    f = fopen(path, "rb");
    unsigned char back[8000];
    size_t got = fread(back, 1, sizeof back, f);
    fseek(f, 4990, SEEK_SET);
    int c = fgetc(f);
    long pos = ftell(f);
    fclose(f);
    printf("fwrite=%zu fread=%zu same=%d byte4990=%d ftell=%ld\n", wrote, got,
           memcmp(back, block, 5000) == 0 && memcmp(back + 5000, block, 1234) == 0, c, pos);

    snprintf(path, sizeof path, "%s/notes.txt", dir);
    f = fopen(path, "w");
    for (int i = 0; i < 5; i++) fprintf(f, "line %d: %s\n", i, i % 2 ? "odd" : "even");
    fclose(f);
    f = fopen(path, "a");
    fputs("appended\n", f);
    fclose(f);
    f = fopen(path, "r");
    char line[128];
    int lines = 0;
    while (fgets(line, sizeof line, f)) { lines++; if (lines == 2 || lines == 6) printf("got: %s", line); }
    fclose(f);
    printf("lines=%d\n", lines);

    /* stat and fstat */
    struct stat st;
    int r = stat(path, &st);
    printf("stat=%d size=%lld reg=%d dir=%d\n", r, (long long)st.st_size, S_ISREG(st.st_mode), S_ISDIR(st.st_mode));
    r = stat(dir, &st);
    printf("stat dir=%d isdir=%d\n", r, S_ISDIR(st.st_mode));
    errno = 0;
    snprintf(path, sizeof path, "%s/missing", dir);
    r = stat(path, &st);
    printf("stat missing=%d errno=%s\n", r, strerror(errno));
    errno = 0;
    f = fopen(path, "r");
    printf("fopen missing=%s errno=%s\n", f ? "opened" : "NULL", strerror(errno));

    /* raw descriptors: pread/pwrite, fcntl, dup3, lseek */
    snprintf(path, sizeof path, "%s/raw", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    write(fd, "0123456789", 10);
    pwrite(fd, "AB", 2, 4);
    char pb[16] = {0};
    ssize_t n = pread(fd, pb, 6, 2);
    off_t off = lseek(fd, 0, SEEK_CUR);
    int fdflags = fcntl(fd, F_GETFD);
    int flflags = fcntl(fd, F_GETFL) & O_ACCMODE;
    fcntl(fd, F_SETFD, 0);
    int cleared = fcntl(fd, F_GETFD);
    int d = dup3(fd, 20, O_CLOEXEC);
    int d2 = fcntl(fd, F_DUPFD, 30);
    lseek(d, 0, SEEK_SET);
    char all[16] = {0};
    read(d2, all, 10);
    struct stat fst;
    fstat(d, &fst);
    printf("pread=%zd '%s' off=%lld cloexec=%d rdwr=%d cleared=%d dup3=%d dupfd=%d all=%s fsize=%lld\n",
           n, pb, (long long)off, fdflags == FD_CLOEXEC, flflags == O_RDWR, cleared, d, d2, all, (long long)fst.st_size);
    errno = 0;
    r = dup3(fd, fd, 0);
    printf("dup3 same=%d errno=%s\n", r, strerror(errno));
    errno = 0;
    r = fcntl(99, F_GETFD);
    printf("bad fcntl=%d errno=%s\n", r, strerror(errno));
    close(fd); close(d); close(d2);

    /* a directory and its listing */
    snprintf(path, sizeof path, "%s/sub", dir);
    printf("mkdir=%d\n", mkdir(path, 0755));
    errno = 0;
    r = mkdir(path, 0755);
    printf("mkdir again=%d errno=%s\n", r, strerror(errno));
    for (int i = 0; i < 4; i++)
    {
        snprintf(path, sizeof path, "%s/sub/file%d", dir, 3 - i);
        f = fopen(path, "w");
        fprintf(f, "%d\n", i);
        fclose(f);
    }
    snprintf(path, sizeof path, "%s", dir);
    DIR *dp = opendir(path);
    char *names[32];
    int count = 0;
    struct dirent *de;
    while ((de = readdir(dp)) && count < 32)
    {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        char tag = de->d_type == DT_DIR ? 'd' : de->d_type == DT_REG ? 'f' : '?';
        char *s = malloc(strlen(de->d_name) + 3);
        sprintf(s, "%c %s", tag, de->d_name);
        names[count++] = s;
    }
    closedir(dp);
    qsort(names, count, sizeof *names, cmp_str);
    for (int i = 0; i < count; i++) { printf("entry %s\n", names[i]); free(names[i]); }
    /* the current directory: relative paths, getcwd, chdir and fchdir */
    char cwd[512];
    printf("chdir=%d\n", chdir(dir));
    printf("getcwd is dir=%d\n", getcwd(cwd, sizeof cwd) && strcmp(cwd, dir) == 0);
    f = fopen("relative.txt", "w");
    fputs("relative\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/relative.txt", dir);
    printf("relative file at dir=%d\n", access(path, F_OK) == 0);
    printf("chdir sub=%d\n", chdir("sub"));
    printf("getcwd sub=%d\n", getcwd(cwd, sizeof cwd) && strcmp(cwd + strlen(cwd) - 4, "/sub") == 0);
    f = fopen("../relative.txt", "r");
    printf("read via ..: %s", f && fgets(line, sizeof line, f) ? line : "(none)\n");
    if (f) fclose(f);
    int dfd = open("..", O_RDONLY | O_DIRECTORY);
    printf("fchdir=%d\n", fchdir(dfd));
    close(dfd);
    printf("unlink relative=%d\n", unlink("relative.txt"));
    errno = 0;
    r = chdir("data.bin");
    printf("chdir file=%d errno=%s\n", r, strerror(errno));
    errno = 0;
    char tiny[2];
    char *got_cwd = getcwd(tiny, sizeof tiny);
    printf("getcwd small=%s errno=%s\n", got_cwd ? "ok" : "NULL", strerror(errno));
    snprintf(path, sizeof path, "%s/sub", dir);
    dp = opendir(path);
    count = 0;
    while ((de = readdir(dp))) if (de->d_name[0] != '.') count++;
    closedir(dp);
    errno = 0;
    r = rmdir(path);
    printf("sub entries=%d rmdir nonempty=%d errno=%s\n", count, r, strerror(errno));
    for (int i = 0; i < 4; i++) { snprintf(path, sizeof path, "%s/sub/file%d", dir, i); unlink(path); }
    snprintf(path, sizeof path, "%s/sub", dir);
    printf("rmdir=%d\n", rmdir(path));
    errno = 0;
    dp = opendir(path);
    printf("opendir removed=%s errno=%s\n", dp ? "opened" : "NULL", strerror(errno));
    snprintf(path, sizeof path, "%s/raw", dir);
    r = unlink(path);
    printf("unlink=%d access=%d\n", r, access(path, F_OK));
    return 0;
}
