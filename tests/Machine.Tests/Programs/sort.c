/* Sorting: a generic byte-swapping quicksort (qsort-like, comparator through a function pointer),
   a stable merge sort, heap sort and insertion sort, over LCG data. */
#include "rt.h"

static u32 lcg_state = 12345;
static u32 lcg(void) { lcg_state = lcg_state * 1103515245u + 12345u; return lcg_state >> 1; }

static void swap_bytes(u8 *a, u8 *b, size_t size)
{
    while (size--) { u8 t = *a; *a++ = *b; *b++ = t; }
}

typedef int (*cmp_fn)(const void *, const void *);

static void insertion(u8 *base, size_t n, size_t size, cmp_fn cmp)
{
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && cmp(base + (j - 1) * size, base + j * size) > 0; j--)
            swap_bytes(base + (j - 1) * size, base + j * size, size);
}

/* Quicksort with median-of-three and insertion sort for small partitions. */
static void my_qsort(void *vbase, size_t n, size_t size, cmp_fn cmp)
{
    u8 *base = vbase;
    while (n > 12) {
        u8 *lo = base, *mid = base + (n / 2) * size, *hi = base + (n - 1) * size;
        if (cmp(mid, lo) < 0) swap_bytes(mid, lo, size);
        if (cmp(hi, mid) < 0) { swap_bytes(hi, mid, size); if (cmp(mid, lo) < 0) swap_bytes(mid, lo, size); }
        swap_bytes(mid, base + (n - 2) * size, size);        /* pivot to n-2 */
        u8 *pivot = base + (n - 2) * size;
        size_t i = 0, j = n - 2;
        for (;;) {
            while (cmp(base + (++i) * size, pivot) < 0) {}
            while (j > 0 && cmp(base + (--j) * size, pivot) > 0) {}
            if (i >= j) break;
            swap_bytes(base + i * size, base + j * size, size);
        }
        swap_bytes(base + i * size, pivot, size);
        /* recurse into the smaller part, loop on the larger */
        size_t left = i, right = n - i - 1;
        if (left < right) { my_qsort(base, left, size, cmp); base += (i + 1) * size; n = right; }
        else { my_qsort(base + (i + 1) * size, right, size, cmp); n = left; }
    }
    insertion(base, n, size, cmp);
}

static int cmp_i32(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static int cmp_u64_desc(const void *a, const void *b)
{
    u64 x = *(const u64 *)a, y = *(const u64 *)b;
    return (x < y) - (x > y);
}

struct rec { u32 key; u32 seq; char name[12]; };

static int cmp_rec(const void *a, const void *b)
{
    const struct rec *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static struct rec tmp_recs[2000];

static void merge_sort_recs(struct rec *a, size_t n)
{
    if (n < 2) return;
    size_t h = n / 2;
    merge_sort_recs(a, h);
    merge_sort_recs(a + h, n - h);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) tmp_recs[k++] = (a[j].key < a[i].key) ? a[j++] : a[i++];   /* stable */
    while (i < h) tmp_recs[k++] = a[i++];
    while (j < n) tmp_recs[k++] = a[j++];
    memcpy(a, tmp_recs, n * sizeof *a);
}

static void sift_down(i64 *a, size_t start, size_t end)
{
    size_t root = start;
    while (2 * root + 1 < end) {
        size_t child = 2 * root + 1;
        if (child + 1 < end && a[child] < a[child + 1]) child++;
        if (a[root] >= a[child]) return;
        i64 t = a[root]; a[root] = a[child]; a[child] = t;
        root = child;
    }
}

static void heap_sort(i64 *a, size_t n)
{
    for (size_t s = n / 2; s-- > 0;) sift_down(a, s, n);
    for (size_t end = n; end-- > 1;) {
        i64 t = a[0]; a[0] = a[end]; a[end] = t;
        sift_down(a, 0, end);
    }
}

static int ints[3000];
static u64 longs[1500];
static struct rec recs[2000];
static i64 heap[2500];

static u64 checksum_i32(const int *a, size_t n)
{
    u64 h = 0;
    for (size_t i = 0; i < n; i++) h = h * 31 + (u32)a[i];
    return h;
}

int main(void)
{
    int ok = 1;

    for (size_t i = 0; i < COUNT(ints); i++) ints[i] = (int)(lcg() % 20001) - 10000;
    my_qsort(ints, COUNT(ints), sizeof ints[0], cmp_i32);
    for (size_t i = 1; i < COUNT(ints); i++) if (ints[i - 1] > ints[i]) ok = 0;
    out_kv_hex("qsort_i32", checksum_i32(ints, COUNT(ints)));
    out_str("min="); out_i64(ints[0]); out_str(" median="); out_i64(ints[1500]); out_str(" max="); out_i64(ints[2999]); out_nl();

    for (size_t i = 0; i < COUNT(longs); i++) longs[i] = ((u64)lcg() << 33) ^ lcg();
    my_qsort(longs, COUNT(longs), sizeof longs[0], cmp_u64_desc);
    u64 h = 0;
    for (size_t i = 0; i < COUNT(longs); i++) { h ^= longs[i] + i; if (i && longs[i - 1] < longs[i]) ok = 0; }
    out_kv_hex("qsort_u64_desc", h);

    static const char *names[] = { "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf" };
    for (size_t i = 0; i < COUNT(recs); i++) {
        recs[i].key = lcg() % 97;
        recs[i].seq = (u32)i;
        const char *nm = names[i % COUNT(names)];
        size_t l = rt_strlen(nm);
        memset(recs[i].name, 0, sizeof recs[i].name);
        memcpy(recs[i].name, nm, l);
    }
    static struct rec copy[2000];
    memcpy(copy, recs, sizeof recs);
    merge_sort_recs(recs, COUNT(recs));
    my_qsort(copy, COUNT(copy), sizeof copy[0], cmp_rec);   /* key then seq: equals the stable order */
    if (memcmp(copy, recs, sizeof recs) != 0) ok = 0;
    for (size_t i = 1; i < COUNT(recs); i++)
        if (recs[i - 1].key > recs[i].key || (recs[i - 1].key == recs[i].key && recs[i - 1].seq > recs[i].seq)) ok = 0;
    out_str("first recs:");
    for (int i = 0; i < 5; i++) { out_char(' '); out_u64(recs[i].key); out_char('/'); out_u64(recs[i].seq); out_char('/'); out_str(recs[i].name); }
    out_nl();

    for (size_t i = 0; i < COUNT(heap); i++) heap[i] = (i64)(((u64)lcg() << 32) | lcg()) >> 3;
    heap_sort(heap, COUNT(heap));
    h = 0;
    for (size_t i = 0; i < COUNT(heap); i++) { h = h * 1000003u ^ (u64)heap[i]; if (i && heap[i - 1] > heap[i]) ok = 0; }
    out_kv_hex("heap_i64", h);
    out_str("heap extremes: "); out_i64(heap[0]); out_char(' '); out_i64(heap[COUNT(heap) - 1]); out_nl();

    out_kv_u64("sorted_ok", (u64)ok);
    return ok ? 0 : 1;
}
