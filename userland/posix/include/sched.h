#ifndef _SCHED_H
#define _SCHED_H
#include <sys/types.h>
/* The scheduler calls a course program uses: give up the CPU. */
int sched_yield(void);
#endif
