#ifndef _STRINGS_H
#define _STRINGS_H
#include <string.h>
static inline void bzero(void *p, size_t n) { memset(p, 0, n); }
static inline void bcopy(const void *s, void *d, size_t n) { memmove(d, s, n); }
#endif
