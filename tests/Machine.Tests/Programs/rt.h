/* Freestanding runtime for the whole-program tests: no libc. The same ELF runs natively on Linux
   and in the Machine (BareElfRunner), which services only write, exit and exit_group. */
#ifndef LAB_RT_H
#define LAB_RT_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int64_t i64;
typedef unsigned __int128 u128;
typedef __int128 i128;

#define NOINLINE __attribute__((noinline))
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

long sys_write(int fd, const void *buf, size_t n);
_Noreturn void sys_exit(int code);

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t rt_strlen(const char *s);

/* Buffered stdout; flushed when full and when main returns. */
void out_char(char c);
void out_str(const char *s);
void out_mem(const char *s, size_t n);
void out_u64(u64 v);
void out_i64(i64 v);
void out_hex(u64 v, int digits);   /* digits = 0: as many as needed */
void out_nl(void);
void out_flush(void);
/* "name=value\n" helpers. */
void out_kv_u64(const char *name, u64 v);
void out_kv_hex(const char *name, u64 v);


#endif
