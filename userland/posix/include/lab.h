#ifndef _LAB_H
#define _LAB_H
/* Lab's private system calls (numbers from 1000 up, see posix_syscalls.h, generated from the kernel's table). */
#include <stdint.h>

#define TRACK_NSYSCALLS 1024   /* counts[] covers syscall numbers 0..1023 */
#define TRACK_NAME_MAX 32

/* The record track_wait copies out (layout fixed: the kernel writes exactly this). */
struct track_metrics {
    int32_t pid;
    int32_t exit_code;                /* the code passed to exit (not the wait status word) */
    char name[TRACK_NAME_MAX];        /* program name, NUL-terminated */
    uint64_t bytes_read;              /* sum of successful read return values */
    uint64_t bytes_written;           /* sum of successful write return values */
    uint64_t text_pages, data_pages, heap_pages, stack_pages;
    uint64_t pt_pages[4];             /* page-table pages: PML4, PDPT, PD, PT */
    uint64_t counts[TRACK_NSYSCALLS]; /* calls per syscall number, counted at entry */
};

/* Maps a fresh zeroed user page at page-aligned addr (replacing what was there), as WeensyOS's
 * sys_page_alloc does. 0, or -1 with errno EINVAL / ENOMEM (ENOSYS on the Linux host). */
int page_alloc(void *addr);
/* Return 0 or -1 with errno (ENOSYS on the Linux host). */
int track_self(void);
/* Returns the reaped child's pid, or -1 with errno (ECHILD, EFAULT, ENOSYS on Linux). */
int track_wait(struct track_metrics *m);
/* 1 when running natively on Linux (the private calls are unknown there), 0 on Lab's kernel. */
int lab_on_linux_host(void);
/* Raw system call: returns the kernel's value (negative errno on failure), errno untouched. */
long lab_syscall(long n, long a1, long a2, long a3, long a4, long a5, long a6);
#endif
